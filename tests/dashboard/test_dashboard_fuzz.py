"""No request ever answers 500: every route of the app, as an admin, with hostile values in every
path segment, query parameter and form field the dashboard reads (a generated table).

The routes come from the app's own URL map, so a route added later is fuzzed without editing this.
"""
from __future__ import annotations

import datetime as dt
import re

import pytest
from support.dashboard import add_violations, dashboard_config, login, make_users, make_violation
from support.databases import sqlite_database

from maskwatch.dashboard.app import create_app
from maskwatch.membus import MemoryBus
from maskwatch.storage.snapshots import SnapshotStore

T0 = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
HOSTILE = ["", " ", "0", "-1", "1", "99999999999999999999", "1e309", "nan", "-inf", "0x10", "9999-12-31",
           "9999-12-31T23:59:59", "0001-01-01", "0001-01-01T00:00:00+14:00", "2026-13-45", "2026-01-01T25:61",
           "+275760-09-13", "1999-12-31", "2200-01-02", "'; DROP TABLE users;--", "<script>alert(1)</script>",
           "../../etc/passwd", "%00", "\x00", "a" * 5000, "\u2603", "//evil.example/x", "javascript:alert(1)",
           "confirmed", "false_positive", "admin", "role", "deactivate", "password", "[]", "{}", "null"]
QUERY = ["camera", "from", "to", "status", "min_conf", "before", "after", "limit", "next", "page", "sort", "since",
         "bucket", "n", "kind", "cursor"]
FORM = ["action", "role", "password", "username", "status", "note", "ids", "next", "back"]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    bus = MemoryBus("fuzz")
    app = create_app(dashboard_config(sqlite_database(tmp), tmp / "snaps"), bus=bus,
                     snapshots=SnapshotStore(tmp / "snaps"))
    app.config.update(WTF_CSRF_ENABLED=False)  # reach the handlers; CSRF is test_dashboard_auth's
    sessions = app.extensions["maskwatch"].sessions
    users = make_users(sessions)
    add_violations(sessions, [make_violation(n, "cam-a", T0 + dt.timedelta(minutes=n)) for n in range(1, 4)])
    c = app.test_client()
    login(c, users["admin"])
    return app, c


def urls(app, value: str) -> list[tuple[str, str]]:
    """(method, path) for every rule, each of its variables set to `value`."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint == "auth.logout":
            continue  # logging out would end the fuzzing session
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda _: value.replace("/", "%2F") or "x", rule.rule)
        out += [(m, path) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return out


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v[:20]))
def test_no_route_answers_500_whatever_it_is_sent(client, value):
    app, c = client
    failures = []
    for method, path in urls(app, value):
        calls = [{"query_string": {k: value}} for k in QUERY] if method == "GET" else \
            [{"data": {k: value, "action": "role"}} for k in FORM] + [{"json": {k: value}} for k in ("status", "note")]
        for kwargs in calls:
            with c.open(path, method=method, **kwargs) as resp:  # closed: a streamed CSV ends in its context
                if resp.status_code >= 500:
                    failures.append(f"{method} {path} {kwargs}: {resp.status_code}")
    assert not failures, failures[:10]
    assert c.get("/").status_code == 200  # still logged in: the fuzzing reached the handlers


@pytest.mark.parametrize("path", ["/stats?to=9999-12-31T23:59:59", "/api/stats?to=9999-12-31T23:59:59",
                                  "/api/stats?from=9999-12-25", "/stats?from=0001-01-01"])
def test_far_dates_are_a_clear_400(client, path):
    _, c = client
    resp = c.get(path)
    assert resp.status_code == 400 and b"expected a date from 2000 to 2199" in resp.data


def test_an_id_too_large_for_the_database_is_no_user(client):
    _, c = client
    assert c.post("/users/99999999999999999999", data={"action": "role", "role": "viewer"}).status_code == 404
