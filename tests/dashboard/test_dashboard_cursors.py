"""Page cursors as hostile input: every cursor field (`cursor` of the API, `before` and `after` of the
list) of every sort order, with values at and past the edges of each column's type, answers a page
or a clear 400, never a 500, on SQLite and PostgreSQL alike."""
from __future__ import annotations

import base64
import datetime as dt

import pytest
from support.dashboard import add_violations, dashboard_config, login, make_users, make_violation
from support.databases import pg_database_url, sqlite_database

from maskwatch.dashboard.app import create_app
from maskwatch.membus import MemoryBus
from maskwatch.storage.queries import INT32, SORT_COLUMNS, Cursor

T0 = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
VID = "ab" * 12
EDGES = [0, 1, -1, INT32[1], INT32[1] + 1, INT32[0] - 1, 2 ** 63, 2 ** 64 + 1, -(2 ** 63) - 1, 10 ** 40,
         1e308, -1e308, 0.5]
FIELDS = [("/api/violations", "cursor"), ("/", "before"), ("/", "after")]
SORTS = [f"{sign}{col}" for col in SORT_COLUMNS for sign in ("", "-")]


def tokens(column: str) -> list[str]:
    """Cursors of the column at and past its type's edges (first_seen: microseconds since 1970)."""
    if column == "first_seen":
        return [base64.urlsafe_b64encode(f"{m}:{VID}".encode()).decode().rstrip("=")
                for m in (0, -1, 10 ** 15, 10 ** 17, 10 ** 30, -(10 ** 30))]
    return [Cursor(v, VID, column).encode() for v in [*EDGES, float("nan"), float("inf")]]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def client(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cursors")

    def make(url):
        app = create_app(dashboard_config(url, tmp / "snaps"), bus=MemoryBus("cursors"))
        app.config.update(TESTING=True)
        sessions = app.extensions["maskwatch"].sessions
        users = make_users(sessions)
        add_violations(sessions, [make_violation(n, "cam-a", T0 + dt.timedelta(minutes=n)) for n in range(1, 4)])
        c = app.test_client()
        login(c, users["viewer"])
        return c
    if request.param == "sqlite":
        yield make(sqlite_database(tmp))
        return
    with pg_database_url() as url:
        yield make(url)


@pytest.mark.parametrize("sort", SORTS)
def test_every_cursor_field_of_every_sort_order_answers_a_page_or_a_400(client, sort):
    failures = []
    for column in SORT_COLUMNS:
        for token in tokens(column):
            for path, field in FIELDS:
                resp = client.get(path, query_string={"sort": sort, field: token})
                if resp.status_code not in (200, 400):
                    failures.append(f"{path}?sort={sort}&{field}={token}: {resp.status_code}")
    assert not failures, failures[:10]


@pytest.mark.parametrize("value, status", [(INT32[1], 200), (INT32[1] + 1, 400), (2 ** 64 + 1, 400), (-1, 200)])
def test_a_face_width_cursor_past_the_column_is_a_clear_400(client, value, status):
    resp = client.get("/api/violations", query_string={"sort": "face_width",
                                                        "cursor": Cursor(value, VID, "face_width").encode()})
    assert resp.status_code == status
    if status == 400:
        assert "invalid page cursor" in resp.get_json()["error"]
