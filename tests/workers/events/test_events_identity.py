"""Events and identity against real Redis and SQLite: shards, privacy, restarts with violators in
view, rows kept up to date, Redis holding only what is not settled."""
from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import json
import threading
import time

import pytest
from support.databases import sqlite_database
from support.detections import detection
from support.events import (
    BAD_P,
    CAM,
    FPS,
    Feed,
    database,
    events_config,
    pending,
    push,
    rows,
    running,
    settled,
    wait_for,
)
from support.settings import REDIS_URL

from maskwatch.config import parse_config
from maskwatch.storage.db import upgrade
from maskwatch.storage.snapshots import SnapshotStore
from maskwatch.storage.tables import Violation
from maskwatch.wire.detections import encode
from maskwatch.wire.pose import Pose
from maskwatch.workers.events import GROUP, EventsService


def _shard_config(bus, url, snap_dir, shards):
    return parse_config({"redis": {"url": REDIS_URL, "prefix": bus.keys.prefix}, "database": {"url": url},
                         "snapshots": {"dir": str(snap_dir)},
                         "events": {"reorder_s": 0.05, "track_max_gap_s": 0.5, "shards": shards}}, env={})


def test_a_shard_never_touches_another_shards_cameras(bus, tmp_path):
    from maskwatch.shards import Shard, shard_of

    url = sqlite_database(tmp_path, "events.db")
    cfg = _shard_config(bus, url, tmp_path / "snaps", 2)
    cams = [f"cam-{i}" for i in range(6)]
    assert {shard_of(c, 2) for c in cams} == {0, 1}
    t0 = time.time() - 60
    for cam in cams:
        for i in range(6):
            m = detection(cam, i, t0 + i / FPS, [((50 + 5 * i, 40, 90 + 5 * i, 88), BAD_P)])
            bus.add(bus.keys.detections(shard_of(cam, 2)), encode(m))
    stray = next(c for c in cams if shard_of(c, 2) == 1)
    bus.add(bus.keys.detections(0), encode(detection(stray, 99, t0 + 2, [((10, 10, 50, 58), BAD_P)])))
    with database(url) as (_, sessions), contextlib.ExitStack() as stack:
        svcs = [stack.enter_context(running(cfg, bus, sessions, tmp_path / "snaps", f"events-{k}", Shard(k, 2)))
                for k in range(2)]
        wait_for(lambda: len(rows(sessions)) == 6 and all(
            bus.pending_count(bus.keys.detections(k), GROUP) == 0 for k in range(2)), 15, "one violation a camera")
        for k, svc in enumerate(svcs):
            assert set(svc._cams) == {c for c in cams if shard_of(c, 2) == k}
        assert svcs[0].counters()["wrong_shard"] == 1 and svcs[1].counters()["wrong_shard"] == 0
    assert sorted(v.camera_id for v in rows(sessions)) == cams


def test_no_descriptor_reaches_sql_files_or_the_api(bus, tmp_path):
    """Appearance descriptors stay in memory and in Redis (with a TTL of revisit_s), nowhere else."""
    from support.dashboard import dashboard_config, login, make_users

    from maskwatch.dashboard.app import create_app

    url = sqlite_database(tmp_path, "events.db")
    feed = Feed().episode()
    cfg = events_config(bus, url, tmp_path / "snaps", revisit_s=300)
    with database(url) as (engine, sessions):
        push(bus, feed.msgs)
        with running(cfg, bus, sessions, tmp_path / "snaps"):
            wait_for(settled(bus, 1, sessions))
        (v,) = rows(sessions)
        key = bus.keys.events_identities(CAM)
        assert 0 < bus.r.ttl(key) <= 300 and bus.r.hlen(key) == 1
        stored = next(iter(bus.get_hash(key).values()))
        exemplar = json.loads(stored)["ex"][0]
        needles = [exemplar[:24].encode(), base64.b64decode(exemplar)[:16]]
        files = [tmp_path / "events.db"] + [p for p in (tmp_path / "snaps").rglob("*") if p.is_file()]
        for path in files:
            data = path.read_bytes()
            assert not any(n in data for n in needles), path
        assert all(p.read_bytes()[:2] == b"\xff\xd8" for p in files[1:])  # snapshots are JPEGs only
        assert not [c.name for c in Violation.__table__.columns if "emb" in c.name or "descr" in c.name]
        users = make_users(sessions)
        app = create_app(dashboard_config(url, tmp_path / "snaps", cameras=(CAM,)), engine=engine)
        client = app.test_client()
        login(client, users["viewer"])
        body = client.get("/api/violations").get_data()
        assert v.id.encode() in body and not any(n in body for n in needles)
        assert b"emb" not in body and b"descriptor" not in body


def test_a_violator_still_in_view_across_a_restart_is_one_violation_that_goes_on(bus, tmp_path):
    """A graceful restart mid-visit: the same row, its last_seen and sightings advancing."""
    url = sqlite_database(tmp_path, "events.db")
    feed = Feed().episode(frames=30, gap=6)
    cfg = events_config(bus, url, tmp_path / "snaps", track_max_gap_s=1.0)
    with database(url) as (_, sessions):
        push(bus, feed.msgs[:12])
        with running(cfg, bus, sessions, tmp_path / "snaps") as svc:
            wait_for(lambda: len(rows(sessions)) == 1 and svc.counters()["processed"] == 12)
        (before,) = rows(sessions)
        push(bus, feed.msgs[12:])
        with running(cfg, bus, sessions, tmp_path / "snaps") as svc:
            wait_for(lambda: svc.counters()["processed"] >= len(feed.msgs) - 12 and pending(bus) == 0, 15)
            assert svc.counters()["rejoined"] == 1 and svc.counters()["violations"] == 0
        (after,) = rows(sessions)
    assert after.id == before.id
    assert after.sightings == 30 and after.last_seen > before.last_seen


def test_redis_keeps_only_unsettled_detections(bus, tmp_path):
    """Committed and acked entries are deleted: after a long feed the stream holds only what
    still sits in a vote window, whatever was pushed through it."""
    url = sqlite_database(tmp_path, "events.db")
    feed = Feed()
    for i in range(40):
        feed.episode(frames=12, bad_y=30 if i % 2 else 100, gap=4)
    cfg = events_config(bus, url, tmp_path / "snaps")
    pushed = sum(len(encode(m)[b"frame"]) + len(encode(m)[b"meta"]) for m in feed.msgs)
    with database(url) as (_, sessions):
        push(bus, feed.msgs)
        with running(cfg, bus, sessions, tmp_path / "snaps") as svc:
            wait_for(lambda: svc.counters()["processed"] == len(feed.msgs) and pending(bus) == 0, 30)
            assert len(rows(sessions)) == 40
        key = bus.keys.detections()
        assert bus.r.xlen(key) == 0
        assert bus.r.memory_usage(key) < max(64_000, pushed / 50), (bus.r.memory_usage(key), pushed)


def test_a_violator_still_in_view_at_a_stop_has_their_row_up_to_date(bus, tmp_path):
    """Sightings after the vote are acked at once, so the row must already say how long they
    were seen, even if their track never ends in this process."""
    url = sqlite_database(tmp_path, "events.db")
    feed = Feed().episode(frames=20, gap=0)
    cfg = events_config(bus, url, tmp_path / "snaps", track_max_gap_s=30)
    with database(url) as (_, sessions):
        push(bus, feed.msgs)
        with running(cfg, bus, sessions, tmp_path / "snaps") as svc:
            wait_for(lambda: svc.counters()["processed"] == 20 and len(rows(sessions)) == 1)
            wait_for(lambda: rows(sessions)[0].sightings == 20, 5, "the row to catch up")
        (v,) = rows(sessions)
    last = v.last_seen.replace(tzinfo=dt.UTC) if v.last_seen.tzinfo is None else v.last_seen
    assert last.timestamp() == pytest.approx(feed.msgs[-1].captured_at, abs=1e-3)


def test_stopped_during_a_database_outage_the_violation_is_stored_after_the_restart(bus, tmp_path):
    """The vote passed while PostgreSQL was unreachable and the service was stopped: its violator's
    identity must not outlive the uncommitted row, or the replay would "rejoin" a row that never was."""
    from support.databases import pg_database, pg_url
    from support.tcp_proxy import TcpProxy

    from maskwatch.storage.db import make_engine, session_factory

    feed = Feed().episode(gap=0)
    with pg_database() as name, TcpProxy("127.0.0.1", 5432) as proxy:
        direct_engine = make_engine(pg_url(name))
        direct = session_factory(direct_engine)
        cfg = events_config(bus, pg_url(name, proxy.port), tmp_path / "snaps")
        try:
            with database(cfg.database.url) as (_, sessions):
                with running(cfg, bus, sessions, tmp_path / "snaps") as svc:
                    proxy.cut()
                    push(bus, feed.msgs)
                    wait_for(lambda: not svc.counters()["db_ok"], what="the service to notice the outage")
                assert not bus.get_hash(bus.keys.events_identities(CAM))  # nothing committed: nothing kept
                proxy.restore()
                with running(cfg, bus, sessions, tmp_path / "snaps") as svc:
                    wait_for(lambda: len(rows(direct)) == 1 and pending(bus) == 0, 15, "the replayed violation")
                    assert svc.counters()["violations"] == 1 and svc.counters()["rejoined"] == 0
        finally:
            direct_engine.dispose()


@pytest.mark.parametrize("with_pose, violations", [(True, 1), (False, 2)])
def test_a_swaying_camera_told_by_its_pose_keeps_one_person_one_violation(bus, tmp_path, with_pose, violations):
    """A hand-held camera sways three face widths a frame and back (no appearance to go by): the
    pose ingest sends with each frame is what keeps the unmasked person one track."""
    url = sqlite_database(tmp_path, "events.db")
    t0, msgs = time.time() - 60, []
    for k in range(16):
        offset = 72.0 * (k % 2)  # the camera's sway, in pixels
        msg = detection(CAM, k + 1, t0 + k / FPS, [((150 + 2 * k - offset, 60, 174 + 2 * k - offset, 88), BAD_P)])
        pose = Pose(7, ((1.0, 0.0, -offset), (0.0, 1.0, 0.0)))
        msgs.append(dataclasses.replace(msg, pose=pose if with_pose else None))
    cfg = events_config(bus, url, tmp_path / "snaps")
    with database(url) as (_, sessions), running(cfg, bus, sessions, tmp_path / "snaps") as svc:
        push(bus, msgs)
        wait_for(lambda: svc.counters()["processed"] == len(msgs) and pending(bus) == 0, 15, "all settled")
        assert len(rows(sessions)) == violations
