"""Retention (prune), users and keyset cursors, on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import os
import shutil

import pytest
from sqlalchemy import func, select
from support.dashboard import FAST_HASH, add_violations, make_violation
from support.databases import pg_database_url, sqlite_database

from maskwatch.storage import prune as prune_mod
from maskwatch.storage.db import make_engine, session_factory
from maskwatch.storage.prune import prune
from maskwatch.storage.queries import BadQuery, Cursor, Sort, ViolationFilter, fetch_page, latest_created, new_since
from maskwatch.storage.snapshots import SnapshotStore
from maskwatch.storage.tables import CameraHour, ReviewStatus, Role, Violation
from maskwatch.storage.users import UserError, add_user, ensure_first_admin, update_user, verify

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_url(request, tmp_path_factory):
    if request.param == "sqlite":
        yield sqlite_database(tmp_path_factory.mktemp("storage"))
    else:
        with pg_database_url() as url:
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
    for v in (old[0], new[0]):  # with a clip: it goes (or stays) with its row
        v.clip_path = store.clip_relpath(v.crop_path, v.id)
        store.write(v.clip_path, b"\x00\x00\x00\x20ftypisom")
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
    assert [p.name for p in store.root.rglob("*.mp4")] == [f"{new[0].id}_clip.mp4"]
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


def _sorted_rows(sessions):
    rows = []
    for i in range(11):
        v = make_violation(i, "cam-a", NOW - i * dt.timedelta(minutes=3), p=round(0.6 + (i % 4) * 0.1, 2))
        v.face_score = round(0.5 + (i % 3) * 0.2, 2)   # ties on every sort column but first_seen
        v.box = [0, 0, 12 + 4 * (i % 5), 40]
        rows.append(v)
    return add_violations(sessions, rows)


def _walk(s, sort: Sort, size: int = 4) -> tuple[list[str], list[list[str]]]:
    """Every page forwards, then back from the last page with `after`: (all ids, pages backwards)."""
    pages, cursor, page = [], None, None
    while page is None or page.older is not None:
        page = fetch_page(s, ViolationFilter(), size, before=cursor, sort=sort)
        pages.append([v.id for v in page.rows])
        cursor = page.older and Cursor.decode(page.older.encode())
    back, newer = [], page.newer
    while newer is not None:
        prev = fetch_page(s, ViolationFilter(), size, after=Cursor.decode(newer.encode()), sort=sort)
        back.append([v.id for v in prev.rows])
        newer = prev.newer
    return [i for p in pages for i in p], back[::-1] + [pages[-1]] if back else pages


@pytest.mark.parametrize("param", ["-first_seen", "first_seen", "-p_no_mask", "p_no_mask", "face_width",
                                   "-face_width", "face_score", "-face_score"])
def test_every_sort_order_pages_through_every_row_once_both_ways(sessions, param):
    rows = _sorted_rows(sessions)
    sort = Sort.parse(param)
    key = {"first_seen": lambda v: v.first_seen, "p_no_mask": lambda v: v.p_no_mask,
           "face_width": lambda v: v.box[2] - v.box[0], "face_score": lambda v: v.face_score}[sort.column]
    expected = [v.id for v in sorted(rows, key=lambda v: (key(v), v.id), reverse=sort.descending)]
    with sessions() as s:
        flat, pages = _walk(s, sort)
    assert flat == expected
    assert [i for p in pages for i in p] == expected  # the pages reached backwards are the same pages


@pytest.mark.parametrize(("param", "token_sort", "error"), [
    ("sideways", None, "sort: expected one of first_seen, p_no_mask, face_width, face_score"),
    ("-p_no_mask", "-first_seen", "this page cursor belongs to another sort order"),
])
def test_bad_sorts_and_cursors_of_another_sort_are_refused(sessions, param, token_sort, error):
    _sorted_rows(sessions)
    with pytest.raises(BadQuery, match=error), sessions() as s:
        sort = Sort.parse(param)
        older = fetch_page(s, ViolationFilter(), 3, sort=Sort.parse(token_sort)).older
        fetch_page(s, ViolationFilter(), 3, before=Cursor.decode(older.encode()), sort=sort)


def test_face_width_is_filled_from_the_box_on_insert(sessions):
    v = make_violation(1, "cam-a", NOW)
    v.box = [10.0, 5.0, 47.6, 60.0]
    add_violations(sessions, [v])
    with sessions() as s:
        assert s.get(Violation, v.id).face_width == 38


def test_new_since_counts_rows_written_after_a_time_even_with_an_old_first_seen(sessions):
    add_violations(sessions, [make_violation(i, "cam-a", NOW - i * DAY) for i in range(3)])
    with sessions() as s:
        since = latest_created(s, ViolationFilter())
    late = make_violation(7, "cam-b", NOW - 30 * DAY)   # settled late: its person was seen a month ago
    late.created_at = since + dt.timedelta(seconds=1)
    fresh = make_violation(8, "cam-a", NOW)
    fresh.created_at = since + dt.timedelta(seconds=2)
    add_violations(sessions, [late, fresh])
    with sessions() as s:
        found = new_since(s, ViolationFilter(), since)
        assert (found.count, [v.id for v in found.rows]) == (2, [fresh.id, late.id])
        assert found.latest == fresh.created_at
        assert new_since(s, ViolationFilter(camera="cam-b"), since).count == 1
        assert new_since(s, ViolationFilter(), found.latest).count == 0


def _sized(store, i: int, when: dt.datetime, kb: int):
    """A violation whose crop and frame files hold `kb` KB together."""
    v = make_violation(i, "cam-a", when, store=store)
    for rel in (v.crop_path, v.frame_path):
        (store.root / rel).write_bytes(b"x" * (kb * 512))
    return v


@pytest.mark.parametrize("max_kb, free_kb, min_free_kb, kept", [
    (None, 10_000, 0, 6),        # no cap, room on the disk: nothing goes
    (60, 10_000, 0, 6),          # 60 KB of files, a 60 KB cap: nothing goes
    (40, 10_000, 0, 4),          # the two oldest go, whatever their age
    (5, 10_000, 0, 0),           # a cap below one violation: all go
    (None, 15, 30, 4),           # 15 KB free, 30 wanted: the two oldest (20 KB) make room
    (None, 0, 1_000, 0),         # the disk is full of something else: ours go, then an error
])
def test_the_oldest_go_when_the_snapshots_outgrow_their_room(sessions, tmp_path, caplog, max_kb, free_kb,
                                                              min_free_kb, kept):
    from maskwatch.storage.prune import GB, prune_space

    store = SnapshotStore(tmp_path / "snaps")
    rows = [_sized(store, i, NOW - (6 - i) * DAY, 10) for i in range(6)]  # 10 KB each, the first the oldest
    add_violations(sessions, rows)
    kb = 1024 / GB
    deleted = prune_space(sessions, store, None if max_kb is None else max_kb * kb, min_free_kb * kb,
                          disk_free=lambda root: free_kb * 1024)
    assert deleted == 6 - kept
    with sessions() as s:
        left = set(s.scalars(select(Violation.id)))
    assert left == {v.id for v in rows[6 - kept:]}  # the newest stay
    for v in rows[:6 - kept]:
        assert not (store.root / v.crop_path).exists()
    if min_free_kb > free_kb + 60:
        assert "no snapshot left to delete" in caplog.text


@pytest.mark.parametrize("confirmed_days, gone", [
    (None, {0, 1, 2}),          # confirmed ones go by retention.days like the rest
    (400, {0, 2}),              # kept a year: the 40-day-old confirmed one stays
])
def test_confirmed_violations_are_kept_longest(sessions, tmp_path, confirmed_days, gone):
    store = SnapshotStore(tmp_path / "snaps")
    ages = [50, 40, 35, 10]  # days; the one 40 days old was confirmed by an operator
    rows = [make_violation(i, "cam-a", NOW - age * DAY, store=store,
                           status=ReviewStatus.confirmed if i == 1 else ReviewStatus.pending)
            for i, age in enumerate(ages)]
    add_violations(sessions, rows)
    assert prune(sessions, store, 30, now=NOW, confirmed_days=confirmed_days) == len(gone)
    with sessions() as s:
        assert set(s.scalars(select(Violation.id))) == {v.id for i, v in enumerate(rows) if i not in gone}


def test_retention_by_size_on_a_real_small_disk(sessions, small_disk):
    """A 4 MiB filesystem filled to 3.4 MiB: retention keeps 1.5 MiB free, oldest first, confirmed last."""
    from maskwatch.storage.prune import GB, prune_space

    store = SnapshotStore(small_disk)
    rows = []
    for i in range(8):  # 0 is the oldest; 1 was confirmed
        v = make_violation(i, "cam-a", NOW - (10 - i) * DAY, store=store,
                           status=ReviewStatus.confirmed if i == 1 else ReviewStatus.pending)
        v.clip_path = store.clip_relpath(v.crop_path, v.id)
        store.write(v.clip_path, os.urandom(420 * 1024))  # a clip: most of a violation's bytes
        rows.append(v)
    add_violations(sessions, rows)
    free = shutil.disk_usage(small_disk).free
    assert free < 1.0 * 2 ** 20
    deleted = prune_space(sessions, store, None, 1.5 * 2 ** 20 / GB)  # the real disk's free space
    assert shutil.disk_usage(small_disk).free >= 1.5 * 2 ** 20 and deleted in (2, 3)  # ~0.85 MiB to free
    with sessions() as s:
        left = set(s.scalars(select(Violation.id)))
    gone = [0, 2, 3][:deleted]  # the oldest, the confirmed one (1) skipped
    assert left == {v.id for i, v in enumerate(rows) if i not in gone}
    assert not list(small_disk.rglob(f"{rows[0].id}*")) and list(small_disk.rglob(f"{rows[1].id}*"))
