"""Violations, detail, review, CSV, stats and JSON API, on SQLite and on PostgreSQL.

Expected results are computed in Python from all rows, so the SQL (keyset pages, row-value
comparisons, hour buckets, UTC handling) is checked against an independent answer on both dialects.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from urllib.parse import quote

import pytest
from sqlalchemy import select
from support.dashboard import T0, add_violations, dashboard_config, login, make_users, make_violation, violation_id
from support.databases import pg_database_url, sqlite_database
from support.detections import solid_jpeg

from maskwatch.clipvideo import encode_clip
from maskwatch.dashboard.app import create_app
from maskwatch.membus import MemoryBus
from maskwatch.storage.queries import as_utc
from maskwatch.storage.snapshots import SnapshotStore
from maskwatch.storage.tables import CameraHour, ReviewLabel, ReviewStatus, Verdict, Violation
from maskwatch.wire.clip_requests import ClipFrame

MIN = dt.timedelta(minutes=1)
CLIP = encode_clip([(ClipFrame(i / 5), solid_jpeg((20 * i, 90, 60), (160, 120))) for i in range(10)])[0]


def _seed(sessions, store: SnapshotStore) -> None:
    rows = []
    for i in range(12):
        rows.append(make_violation(i, "cam-a", T0 + i * 10 * MIN, p=0.5 + i * 0.04, store=store if i < 2 else None))
    for i in range(12, 18):
        rows.append(make_violation(i, "cam-b", T0 + (i - 12) * 10 * MIN + 5 * MIN, p=0.7))
    # same first_seen: the id breaks the tie, and paging must neither skip nor repeat them
    rows += [make_violation(i, "cam-a", T0 + 200 * MIN) for i in range(18, 21)]
    rows.append(make_violation(21, "old-cam", T0 - dt.timedelta(days=1)))  # camera no longer configured
    rows.append(make_violation(22, "cam-b", T0 + 61 * MIN, status=ReviewStatus.false_positive))
    rows.append(make_violation(23, "cam-b", T0 + 62 * MIN, status=ReviewStatus.confirmed))
    rows += [make_violation(i, "cam-a", T0 + (i - 20) * 7 * MIN, verdict=Verdict.mask_incorrect) for i in (24, 25)]
    rows[0].clip_path = store.clip_relpath(rows[0].crop_path, rows[0].id)
    store.write(rows[0].clip_path, CLIP)
    add_violations(sessions, rows)
    with sessions() as s:
        s.add_all([CameraHour(camera_id="cam-a", hour=T0, people=100, violations=5, sightings=400),
                   CameraHour(camera_id="cam-b", hour=T0, people=10, violations=5, sightings=40, not_judged=7,
                              still=2, watched_s=2160),
                   CameraHour(camera_id="cam-b", hour=T0 - dt.timedelta(days=30), people=1, violations=1,
                              sightings=1)])
        s.commit()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def env(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"views-{request.param}")
    if request.param == "sqlite":
        yield _env(sqlite_database(tmp), tmp)
    else:
        with pg_database_url() as url:
            yield _env(url, tmp)


def _env(url, tmp):
    store = SnapshotStore(tmp / "snaps")
    app = create_app(dashboard_config(url, tmp / "snaps"), bus=MemoryBus("views"), snapshots=store)
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    sessions = app.extensions["maskwatch"].sessions
    users = make_users(sessions)
    _seed(sessions, store)
    return app, users, sessions


@pytest.fixture
def client(env):
    app, users, _ = env
    c = app.test_client()
    login(c, users["operator"])
    return c


def _rows(sessions) -> list[Violation]:
    with sessions() as s:
        rows = list(s.scalars(select(Violation)))
    return sorted(rows, key=lambda v: (as_utc(v.first_seen), v.id), reverse=True)


def _ids(html: str) -> list[str]:
    return re.findall(r'<tr data-id="([0-9a-f]+)"', html)


def _link(html: str, rel: str) -> str | None:
    m = re.search(rf'rel="{rel}" href="([^"]+)"', html)
    return m.group(1).replace("&amp;", "&") if m else None


def _api_all(client, query: str, limit: int = 4) -> list[str]:
    ids, url = [], f"/api/violations?limit={limit}&{query}"
    while url:
        body = client.get(url).get_json()
        assert len(body["items"]) <= limit
        ids += [v["id"] for v in body["items"]]
        url = body["next_url"]
    return ids


def test_pages_walk_every_row_once_newest_first(env, client):
    expected = [v.id for v in _rows(env[2])]
    seen, url = [], "/"
    while url:
        html = client.get(url).get_data(as_text=True)
        page = _ids(html)
        assert 0 < len(page) <= 5
        seen += page
        url = _link(html, "next")
    assert seen == expected


def test_newer_link_returns_the_page_before(env, client):
    first = client.get("/?camera=cam-a").get_data(as_text=True)
    second = client.get(_link(first, "next")).get_data(as_text=True)
    assert "camera=cam-a" in _link(second, "prev")  # filters survive paging
    back = client.get(_link(second, "prev")).get_data(as_text=True)
    assert _ids(back) == _ids(first)
    assert _link(back, "prev") is None


FILTERS = [
    ("camera=cam-a", lambda v: v.camera_id == "cam-a"),
    ("camera=old-cam", lambda v: v.camera_id == "old-cam"),
    ("status=false_positive", lambda v: v.review_status == ReviewStatus.false_positive),
    ("verdict=mask_incorrect", lambda v: v.verdict == Verdict.mask_incorrect),
    ("verdict=no_mask&camera=cam-a", lambda v: v.verdict == Verdict.no_mask and v.camera_id == "cam-a"),
    ("min_conf=0.8", lambda v: v.p_no_mask >= 0.8),
    ("from=2025-03-10T08:30&to=2025-03-10T09:30", lambda v: T0 + 30 * MIN <= as_utc(v.first_seen) < T0 + 90 * MIN),
    ("from=2025-03-10T10:30%2B02:00", lambda v: as_utc(v.first_seen) >= T0 + 30 * MIN),
    ("to=2025-03-09", lambda v: as_utc(v.first_seen) < dt.datetime(2025, 3, 10, tzinfo=dt.UTC)),
    ("camera=cam-a&status=pending&min_conf=0.6&from=2025-03-10",
     lambda v: v.camera_id == "cam-a" and v.review_status == ReviewStatus.pending and v.p_no_mask >= 0.6),
    ("camera=nobody", lambda v: False),
]


@pytest.mark.parametrize("query,pred", FILTERS, ids=[f[0] for f in FILTERS])
def test_api_filters_match_python(env, client, query, pred):
    expected = [v.id for v in _rows(env[2]) if pred(v)]
    assert _api_all(client, query) == expected


def test_api_item_fields(env, client):
    vid = violation_id(1)
    body = client.get(f"/api/violations/{vid}").get_json()
    assert body["id"] == vid and body["camera_name"] == "Camera A"
    assert body["first_seen"] == (T0 + 10 * MIN).isoformat()
    assert body["crop_url"] == f"/violations/{vid}/crop.jpg"
    assert body["verdict"] == "no_mask" and body["review_label"] is None
    assert client.get(f"/api/violations/{violation_id(24)}").get_json()["verdict"] == "mask_incorrect"
    assert client.get(body["crop_url"]).data[:2] == b"\xff\xd8"
    assert client.get("/api/violations/0123456789abcdef").get_json()["status"] == 404
    assert body["clip_url"] is None  # none came for it
    assert client.get(f"/api/violations/{violation_id(0)}").get_json()["clip_url"] == \
        f"/violations/{violation_id(0)}/clip.mp4"


def test_the_clip_plays_from_any_byte(env, client):
    vid = violation_id(0)
    html = client.get(f"/violations/{vid}").get_data(as_text=True)
    assert f'<video class="clip" src="/violations/{vid}/clip.mp4"' in html
    assert "<video" not in client.get(f"/violations/{violation_id(1)}").get_data(as_text=True)
    whole = client.get(f"/violations/{vid}/clip.mp4")
    assert whole.status_code == 200 and whole.mimetype == "video/mp4" and whole.data == CLIP
    assert whole.headers["Accept-Ranges"] == "bytes"
    part = client.get(f"/violations/{vid}/clip.mp4", headers={"Range": "bytes=100-299"})
    assert part.status_code == 206 and part.data == CLIP[100:300]
    assert part.headers["Content-Range"] == f"bytes 100-299/{len(CLIP)}"
    assert client.get(f"/violations/{vid}/clip.mp4", headers={"Range": f"bytes={len(CLIP)}-"}).status_code == 416
    assert client.get(f"/violations/{violation_id(1)}/clip.mp4").status_code == 404


def test_list_page_content(env, client):
    html = client.get("/?camera=cam-b").get_data(as_text=True)
    assert "Camera B" in html and "false positive" in html and "confirmed" in html
    assert 'name="ids"' in html  # operators get the bulk review checkboxes
    assert "10.0.0." not in html and "hunter2" not in html


def test_detail_page_and_review(env, client):
    app, users, sessions = env
    vid = violation_id(0)
    html = client.get(f"/violations/{vid}").get_data(as_text=True)
    for text in ("Camera A", "test-model-1", "0.500", "2025-03-10 08:00:00", "2025-03-10 08:00:12",
                 f"/violations/{vid}/frame.jpg", "False positive: not a face", "Confirm: worn incorrectly"):
        assert text in html
    resp = client.post(f"/violations/{vid}/review", data={"status": "false_positive", "note": "a poster"})
    assert resp.status_code == 302 and resp.headers["Location"] == f"/violations/{vid}"
    with sessions() as s:
        v = s.get(Violation, vid)
    assert v.review_status == ReviewStatus.false_positive and v.review_note == "a poster"
    assert v.reviewed_by == "operator" and v.reviewed_at is not None
    viewer = app.test_client()
    login(viewer, users["viewer"])
    assert "False positive: masked</button>" not in viewer.get(f"/violations/{vid}").get_data(as_text=True)


@pytest.mark.parametrize(("status", "expected"), [
    ("false_positive/not_a_face", (ReviewStatus.false_positive, ReviewLabel.not_a_face)),
    ("false_positive/mask", (ReviewStatus.false_positive, ReviewLabel.mask)),
    ("confirmed/mask_incorrect", (ReviewStatus.confirmed, ReviewLabel.mask_incorrect)),
    ("confirmed", (ReviewStatus.confirmed, None)),
    ("pending", (ReviewStatus.pending, None)),
])
def test_the_review_says_what_the_face_is(env, client, status, expected):
    vid = violation_id(3)
    assert client.post(f"/violations/{vid}/review", data={"status": status}).status_code == 302
    with env[2]() as s:
        v = s.get(Violation, vid)
    assert (v.review_status, v.review_label) == expected
    if expected[1] is not None:
        assert expected[1].value.replace("_", " ") in client.get(f"/violations/{vid}").get_data(as_text=True)


@pytest.mark.parametrize(("status", "message"), [
    ("confirmed/mask", "label mask does not go with status confirmed"),
    ("false_positive/no_mask", "label no_mask does not go with status false_positive"),
    ("pending/mask", "label mask does not go with status pending"),
    ("confirmed/hat", "status: label expected one of"),
])
def test_a_label_that_does_not_fit_the_status_is_400(env, client, status, message):
    resp = client.post(f"/violations/{violation_id(4)}/review", data={"status": status})
    assert resp.status_code == 400 and message in resp.get_data(as_text=True)


def test_bulk_review(env, client):
    sessions = env[2]
    ids = [violation_id(i) for i in (13, 14, 15)]
    back = "/?camera=cam-b&status=pending"
    resp = client.post("/violations/review", data={"ids": ids, "status": "confirmed", "note": "shift 2",
                                                   "next": back})
    assert resp.status_code == 302 and resp.headers["Location"] == back
    with sessions() as s:
        rows = [s.get(Violation, i) for i in ids]
    assert {(v.review_status, v.review_note) for v in rows} == {(ReviewStatus.confirmed, "shift 2")}
    assert "3 violation(s) marked confirmed" in client.get(back).get_data(as_text=True)
    none = client.post("/violations/review", data={"status": "confirmed", "next": back})
    assert none.status_code == 302  # nothing selected: a message, not an error page


def test_csv_export_streams_filtered_rows(env, client):
    sessions = env[2]
    client.post(f"/violations/{violation_id(16)}/review", data={"status": "confirmed", "note": "=HYPERLINK(1)"})
    resp = client.get("/violations.csv?camera=cam-b")
    assert resp.is_streamed and resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert resp.headers["Cache-Control"] == "no-store"  # people's faces and reviews: no cache keeps a copy
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert [r["id"] for r in rows] == [v.id for v in _rows(sessions) if v.camera_id == "cam-b"]
    noted = next(r for r in rows if r["id"] == violation_id(16))
    assert noted["review_note"] == "'=HYPERLINK(1)" and noted["review_status"] == "confirmed"
    assert noted["verdict"] == "no_mask" and noted["review_label"] == "" and noted["clip_url"] == ""
    clipped = list(csv.DictReader(io.StringIO(client.get("/violations.csv?camera=cam-a").get_data(as_text=True))))
    assert {r["id"]: r["clip_url"] for r in clipped if r["clip_url"]} == \
        {violation_id(0): f"http://localhost/violations/{violation_id(0)}/clip.mp4"}


def test_stats_api_counts_hours_days_and_compliance(env, client):
    rows = _rows(env[2])
    body = client.get("/api/stats?from=2025-03-10&to=2025-03-10").get_json()
    cams = {c["camera_id"]: c for c in body["cameras"]}
    assert list(cams)[:2] == ["cam-a", "cam-b"]
    assert len(body["hours"]) == 24 and body["days"] == ["2025-03-10"]
    for cam in ("cam-a", "cam-b"):
        mine = [v for v in rows if v.camera_id == cam and v.review_status != ReviewStatus.false_positive
                and as_utc(v.first_seen).date() == T0.date()]
        per_hour = [sum(1 for v in mine if as_utc(v.first_seen).hour == h) for h in range(24)]
        assert cams[cam]["hourly"] == per_hour
        assert cams[cam]["daily"] == [len(mine)] and cams[cam]["violations"] == len(mine)
        assert cams[cam]["by_verdict"] == {k.value: sum(1 for v in mine if v.verdict == k) for k in Verdict}
    assert cams["cam-a"]["by_verdict"]["mask_incorrect"] >= 1
    assert cams["cam-a"]["compliance"] == pytest.approx(0.95)
    assert cams["cam-b"]["compliance"] == pytest.approx(0.5) and cams["cam-b"]["people"] == 10
    # people never seen well enough to tell are beside the rate, not in it
    assert (cams["cam-b"]["not_judged"], cams["cam-b"]["still_faces"], cams["cam-a"]["not_judged"]) == (7, 2, 0)
    page = client.get("/stats?from=2025-03-10&to=2025-03-10").get_data(as_text=True)
    assert "5 of 10 people, 7 not judged, watched 2% of the time" in page and ">Not judged</th>" in page
    # coverage: the seconds its frames were processed over the range (a day): an offline hour adds none
    assert cams["cam-b"]["coverage"] == pytest.approx(2160 / 86400) and cams["cam-a"]["coverage"] is None


@pytest.mark.parametrize(("query", "bucket", "bars"), [
    ("from=2025-03-10&to=2025-03-10", "hour", 24),
    ("from=2025-03-04&to=2025-03-10", "day", 7),
    ("from=2025-01-01&to=2025-03-10", "day", 69),
    ("from=2024-03-11&to=2025-03-10", "week", 53),       # 2024-03-11 is a Monday; 2025-03-10 too
    ("from=2025-03-04&to=2025-03-10&bucket=hour", "hour", 168),
    ("from=2025-03-04&to=2025-03-10&bucket=week", "week", 2),
])
def test_stats_page_picks_the_bucket_from_the_range(env, client, query, bucket, bars):
    html = client.get(f"/stats?{query}").get_data(as_text=True)
    assert html.count("<svg class=\"chart\"") == 2  # compliance, and violations per bucket
    assert f'data-bucket="{bucket}" data-bars="{bars}"' in html and f"Violations per {bucket}" in html
    assert html.count('class="xtick"') <= 12
    assert "Camera A: " in html and "95.0 %" in html and "target 95 %" in html


@pytest.mark.parametrize(("query", "error"), [
    ("from=2025-01-01&to=2025-03-10&bucket=hour", "bucket=hour: the range is longer than 14 days"),
    ("bucket=month", "bucket: expected one of hour, day, week"),
])
def test_stats_refuses_a_bucket_that_does_not_fit(env, client, query, error):
    resp = client.get(f"/api/stats?{query}")
    assert resp.status_code == 400 and error in resp.get_json()["error"]


def test_the_list_sorts_by_confidence_and_keeps_the_sort_across_pages(env, client):
    expected = [v.id for v in sorted(_rows(env[2]), key=lambda v: (v.p_no_mask, v.id), reverse=True)]
    html = client.get("/?sort=-p_no_mask").get_data(as_text=True)
    ids = _ids(html)
    nxt = _link(html, "next")
    while nxt:
        assert "sort=-p_no_mask" in nxt
        page = client.get(nxt).get_data(as_text=True)
        ids += _ids(page)
        nxt = _link(page, "next")
    assert ids == expected
    assert 'aria-sort="descending"' in html and "?sort=p_no_mask" in html  # a second click flips it
    assert "0.940" in html and "Face px" in html  # p 0.94 with three decimals; the face size column


def test_newest_is_offered_only_away_from_the_newest_page(client):
    first = client.get("/").get_data(as_text=True)
    assert "« Newest" not in first
    second = client.get(_link(first, "next")).get_data(as_text=True)
    assert "« Newest" in second and 'rel="prev"' in second


def test_new_violations_are_counted_from_the_pages_since(env, client):
    sessions = env[2]
    html = client.get("/?camera=cam-b").get_data(as_text=True)
    since = quote(re.search(r'data-since="([^"]+)"', html).group(1))  # as app.js sends it
    watch = re.search(r'data-watch="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert "camera=cam-b" in watch
    assert client.get(f"{watch}&since={since}").get_json()["count"] == 0
    late = make_violation(90, "cam-b", T0 - dt.timedelta(days=2))   # settled now, seen two days ago
    other = make_violation(91, "cam-a", T0)
    add_violations(sessions, [late, other])
    try:
        body = client.get(f"{watch}&since={since}").get_json()
        assert body["count"] == 1 and [v["id"] for v in body["items"]] == [late.id]
        assert client.get(f"{watch}&since={quote(body['latest'])}").get_json()["count"] == 0
    finally:
        with sessions() as s:
            s.execute(Violation.__table__.delete().where(Violation.id.in_([late.id, other.id])))
            s.commit()
    assert client.get("/api/violations/new").status_code == 400
