"""Retention (prune), users and keyset cursors, on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from test_dashboard_support import FAST_HASH, add_violations, make_violation, pg_database, sqlite_database

from maskwatch.storage import prune as prune_mod
from maskwatch.storage.db import make_engine, session_factory
from maskwatch.storage.models import CameraHour, Role, Violation
from maskwatch.storage.prune import prune
from maskwatch.storage.queries import BadQuery, Cursor, ViolationFilter, fetch_page
from maskwatch.storage.snapshots import SnapshotStore
from maskwatch.storage.users import UserError, add_user, ensure_first_admin, update_user, verify

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_url(request, tmp_path_factory):
    if request.param == "sqlite":
        yield sqlite_database(tmp_path_factory.mktemp("storage"))
    else:
        with pg_database() as url:
            yield url


@pytest.fixture
def sessions(db_url):
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    yield sessions
    with sessions() as s:  # each test starts from empty tables
        for table in ("violations", "camera_hours", "users"):
            s.execute(Violation.metadata.tables[table].delete())
        s.commit()
    engine.dispose()


def _count(sessions, model) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_prune_deletes_old_rows_files_and_empty_folders(sessions, tmp_path):
    store = SnapshotStore(tmp_path / "snaps")
    old = [make_violation(i, "cam-a", NOW - (31 + i) * DAY, store=store) for i in range(5)]
    new = [make_violation(10 + i, "cam-a", NOW - (29 - i) * DAY, store=store) for i in range(2)]
    add_violations(sessions, old + new)
    with sessions() as s:
        s.add_all([CameraHour(camera_id="cam-a", hour=NOW - 40 * DAY, people=1, violations=1, sightings=1),
                   CameraHour(camera_id="cam-a", hour=NOW - DAY, people=1, violations=0, sightings=1)])
        s.commit()
    assert prune(sessions, store, 30, now=NOW) == 5
    with sessions() as s:
        assert set(s.scalars(select(Violation.id))) == {v.id for v in new}
        assert [h.hour.day for h in s.scalars(select(CameraHour))] == [(NOW - DAY).day]
    for v in old:
        assert not (store.root / v.crop_path).exists() and not (store.root / v.crop_path).parent.exists()
    for v in new:
        assert (store.root / v.crop_path).is_file() and (store.root / v.frame_path).is_file()
    assert store.root.is_dir()
    assert prune(sessions, store, 30, now=NOW) == 0


def test_prune_works_in_batches(sessions, tmp_path, monkeypatch):
    monkeypatch.setattr(prune_mod, "BATCH", 2)
    store = SnapshotStore(tmp_path / "snaps")
    add_violations(sessions, [make_violation(i, "cam-b", NOW - (60 + i) * DAY) for i in range(5)])
    assert prune(sessions, store, 30, now=NOW) == 5
    assert _count(sessions, Violation) == 0


def test_prune_never_touches_files_outside_the_store(sessions, tmp_path):
    store = SnapshotStore(tmp_path / "snaps")
    outside = tmp_path / "precious.jpg"
    outside.write_bytes(b"keep")
    evil = make_violation(1, "cam-a", NOW - 90 * DAY)
    evil.crop_path, evil.frame_path = "../precious.jpg", str(outside)
    add_violations(sessions, [evil])
    assert prune(sessions, store, 30, now=NOW) == 1
    assert outside.read_bytes() == b"keep"
    with pytest.raises(ValueError):
        prune(sessions, store, 0)


def test_first_admin_from_env(sessions):
    assert ensure_first_admin(sessions, {"MASKWATCH_ADMIN_PASSWORD": "from-the-env-1"}) is None
    user = verify(sessions, "admin", "from-the-env-1")
    assert user is not None and user.role == Role.admin
    assert ensure_first_admin(sessions, {}) is None  # users exist: nothing happens
    assert _count(sessions, type(user)) == 1


def test_first_admin_refuses_the_example_password(sessions):
    from maskwatch.config import ConfigError

    with pytest.raises(ConfigError, match="MASKWATCH_ADMIN_PASSWORD is still the example value"):
        ensure_first_admin(sessions, {"MASKWATCH_ADMIN_PASSWORD": "change-me-admin"})
    assert verify(sessions, "admin", "change-me-admin") is None


def test_first_admin_generated_password(sessions):
    password = ensure_first_admin(sessions, {"MASKWATCH_ADMIN_USER": "root"})
    assert password and len(password) >= 12
    assert verify(sessions, "root", password).role == Role.admin
    assert verify(sessions, "root", password + "x") is None


def test_first_admin_refuses_a_short_env_password(sessions):
    with pytest.raises(UserError):
        ensure_first_admin(sessions, {"MASKWATCH_ADMIN_PASSWORD": "short"})


def test_users_validation_and_last_admin(sessions):
    admin = add_user(sessions, "boss", "admin", "long-enough-1", hash_method=FAST_HASH)
    for name, role, password in (("boss", "viewer", "long-enough-1"), ("bad name", "viewer", "long-enough-1"),
                                 ("ok", "king", "long-enough-1"), ("ok", "viewer", "short")):
        with pytest.raises(UserError):
            add_user(sessions, name, role, password, hash_method=FAST_HASH)
    with pytest.raises(UserError, match="last active admin"):
        update_user(sessions, admin.id, role="viewer")
    with pytest.raises(UserError, match="last active admin"):
        update_user(sessions, admin.id, active=False)
    other = add_user(sessions, "boss2", Role.admin, "long-enough-2", hash_method=FAST_HASH)
    assert update_user(sessions, admin.id, active=False).active is False
    assert verify(sessions, "boss", "long-enough-1") is None  # deactivated
    assert verify(sessions, "nobody", "whatever-123") is None
    assert update_user(sessions, other.id, role="admin").role == Role.admin


def test_keyset_cursor_round_trip_and_ties(sessions):
    t = dt.datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    add_violations(sessions, [make_violation(i, "cam-a", t) for i in range(7)])
    with sessions() as s:
        pages, cursor = [], None
        while True:
            page = fetch_page(s, ViolationFilter(), 3, before=cursor)
            pages.append([v.id for v in page.rows])
            if page.older is None:
                break
            cursor = Cursor.decode(page.older.encode())
        assert [len(p) for p in pages] == [3, 3, 1]
        flat = [i for p in pages for i in p]
        assert flat == sorted(flat, reverse=True) and len(set(flat)) == 7
        back = fetch_page(s, ViolationFilter(), 3, after=Cursor.decode(fetch_page(s, ViolationFilter(), 3,
                                                                                  before=cursor).newer.encode()))
        assert [v.id for v in back.rows] == pages[1]
    assert Cursor.decode(Cursor(t, "ab" * 6).encode()) == Cursor(t, "ab" * 6)
    for token in ("", "!!", "MTIzOmFi", "eDp5", "LTE6YWJhYmFiYWJhYmFi" + "A" * 200):
        with pytest.raises(BadQuery):
            Cursor.decode(token)
