"""100,000 violations in PostgreSQL: every list query must be an index scan in (sort column, id)
order, never a sequential scan or a sort, on the first page and deep inside (keyset, no OFFSET).

EXPLAIN rather than timing: a plan is stable on a busy machine, a stopwatch is not.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql
from support.databases import pg_database_url

from maskwatch.storage.db import make_engine, session_factory
from maskwatch.storage.queries import NEWEST, Cursor, Sort, ViolationFilter, fetch_page, page_statement
from maskwatch.storage.tables import ReviewStatus, Violation

ROWS = 100_000
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
DEEP = Cursor(START + dt.timedelta(seconds=30 * 20_000), "0" * 24)  # page ~1,600 of 50 rows, newest first

BULK_INSERT = text("""
INSERT INTO violations (id, camera_id, track_id, first_seen, last_seen, p_no_mask, face_score, box,
    frame_width, frame_height, sightings, crop_path, frame_path, model_version, review_status, created_at)
SELECT substr(md5(g::text), 1, 24), CASE WHEN g % 100 = 0 THEN 'cam-rare' ELSE 'cam-' || (g % 7) END, g,
    timestamptz '2025-01-01 00:00:00+00' + g * interval '30 seconds',
    timestamptz '2025-01-01 00:00:10+00' + g * interval '30 seconds',
    (g % 100) / 100.0, 0.8, '[1, 2, 3, 4]'::json, 640, 480, 5, 'x/c.jpg', 'x/f.jpg', 'm1',
    CASE WHEN g % 50 = 0 THEN 'false_positive' WHEN g % 7 = 0 THEN 'confirmed' ELSE 'pending' END, now()
FROM generate_series(1, :n) AS g
""")


@pytest.fixture(scope="module")
def sessions():
    with pg_database_url() as url:
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(BULK_INSERT, {"n": ROWS})
            conn.execute(text("ANALYZE violations"))
        yield session_factory(engine)
        engine.dispose()


def _plan(sessions, flt: ViolationFilter, before=None, after=None, sort=NEWEST, stmt=None) -> str:
    stmt = page_statement(flt, 51, before, after, sort) if stmt is None else stmt
    sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    with sessions() as s:
        return "\n".join(r[0] for r in s.execute(text("EXPLAIN " + sql)))


CASES = [
    ("newest", ViolationFilter(), None, None, "ix_violations_seen_id"),
    ("deep page", ViolationFilter(), DEEP, None, "ix_violations_seen_id"),
    ("newer page", ViolationFilter(), None, DEEP, "ix_violations_seen_id"),
    ("camera", ViolationFilter(camera="cam-3"), DEEP, None, None),
    ("rare camera", ViolationFilter(camera="cam-rare"), DEEP, None, "ix_violations_camera_seen"),
    ("rare status", ViolationFilter(status=ReviewStatus.false_positive), DEEP, None, "ix_violations_status_seen"),
    ("status", ViolationFilter(status=ReviewStatus.pending), None, None, None),
    ("camera+status", ViolationFilter(camera="cam-1", status=ReviewStatus.confirmed), DEEP, None, None),
    ("time range", ViolationFilter(start=START + dt.timedelta(days=3), end=START + dt.timedelta(days=5)),
     None, None, "ix_violations_seen_id"),
    ("min confidence", ViolationFilter(min_conf=0.9), DEEP, None, None),
    ("everything", ViolationFilter(camera="cam-2", status=ReviewStatus.pending, min_conf=0.5,
                                   start=START, end=START + dt.timedelta(days=30)), DEEP, None, None),
]


@pytest.mark.parametrize("name,flt,before,after,index", CASES, ids=[c[0] for c in CASES])
def test_page_query_uses_an_index_in_order(sessions, name, flt, before, after, index):
    plan = _plan(sessions, flt, before, after)
    assert "Index Scan" in plan, plan
    assert "Seq Scan" not in plan and "Sort" not in plan, plan
    if index:
        assert index in plan, plan


SORTS = [
    ("confidence", Sort("p_no_mask"), Cursor(0.42, "0" * 24, "p_no_mask"), "ix_violations_p_id"),
    ("doubtful first", Sort("p_no_mask", descending=False), Cursor(0.42, "0" * 24, "p_no_mask"), "ix_violations_p_id"),
    ("face width", Sort("face_width", descending=False), None, "ix_violations_width_id"),
    ("face score", Sort("face_score"), None, "ix_violations_score_id"),
]


@pytest.mark.parametrize("name,sort,before,index", SORTS, ids=[c[0] for c in SORTS])
def test_each_sort_order_is_an_index_scan_too(sessions, name, sort, before, index):
    plan = _plan(sessions, ViolationFilter(), before, sort=sort)
    assert index in plan and "Seq Scan" not in plan and "Sort" not in plan, plan


def test_the_new_violations_poll_uses_the_created_at_index(sessions):
    stmt = select(func.count()).where(Violation.created_at > dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    plan = _plan(sessions, ViolationFilter(), stmt=stmt)
    assert "ix_violations_created" in plan and "Seq Scan" not in plan, plan


def test_deep_pages_are_right(sessions):
    with sessions() as s:
        page = fetch_page(s, ViolationFilter(camera="cam-3"), 50, before=DEEP)
        assert len(page.rows) == 50 and page.older is not None
        seen = [r.first_seen for r in page.rows]
        assert seen == sorted(seen, reverse=True) and seen[0] < DEEP.value
        assert {r.camera_id for r in page.rows} == {"cam-3"}
        last = fetch_page(s, ViolationFilter(), 50, before=Cursor(START + dt.timedelta(seconds=30 * 10), "f" * 24))
        # rows 1..10: row 10 has the cursor's time but a smaller id, so it sorts after the cursor
        assert [r.track_id for r in last.rows] == list(range(10, 0, -1)) and last.older is None
