"""The events service against real Redis, PostgreSQL and SQLite: violations, acks, crash replay, outages."""
from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select, update
from support.databases import pg_database, pg_url, sqlite_database
from support.detections import detection
from support.events import (
    BAD_P,
    CAM,
    FPS,
    GOOD_P,
    ROOT,
    Feed,
    database,
    events_config,
    pending,
    push,
    rows,
    running,
    settled,
    start_child,
    stop_child,
    wait_for,
)
from support.settings import REDIS_URL
from support.tcp_proxy import TcpProxy

from maskwatch.config import parse_config
from maskwatch.storage import repo
from maskwatch.storage.db import make_engine, session_factory, upgrade
from maskwatch.storage.snapshots import SnapshotStore
from maskwatch.storage.tables import CameraHour, ReviewStatus, Violation
from maskwatch.wire import clip_requests
from maskwatch.wire.detections import encode
from maskwatch.workers.events import GROUP, EventsService, FrameInfo, render_frame, violation_id
from maskwatch.workers.tracker import Sighting

# (a) ------------------------------------------------------------------------------------------------

def test_one_unmasked_one_masked_person_gives_one_violation(bus, db_url, tmp_path):
    feed = Feed().episode(frames=20, noisy_at=7)
    cfg = events_config(bus, db_url, tmp_path / "snaps")
    with database(db_url) as (engine, sessions), running(cfg, bus, sessions, tmp_path / "snaps") as svc:
        ids = push(bus, feed.msgs)
        wait_for(settled(bus, 1, sessions), what="one violation and nothing pending")
        wait_for(lambda: svc.counters()["processed"] == len(feed.msgs), what="every entry processed")
        (v,) = rows(sessions)
        assert v.camera_id == CAM and v.review_status is ReviewStatus.pending
        assert v.box[1] < 100  # the unmasked walker (top), not the masked one (bottom)
        assert v.p_no_mask == pytest.approx(BAD_P) and v.sightings >= 3  # 3 at the vote, more once ended
        assert (v.frame_width, v.frame_height, v.model_version) == (320, 240, "test-1")
        assert v.id == violation_id(CAM, ids[2], 0)
        for rel in (v.crop_path, v.frame_path):
            img = cv2.imread(str(tmp_path / "snaps" / rel))
            assert img is not None
        assert cv2.imread(str(tmp_path / "snaps" / v.frame_path)).shape == (240, 320, 3)
        with sessions() as s:
            (hour,) = s.scalars(select(CameraHour)).all()
        assert (hour.people, hour.violations, hour.sightings) == (2, 1, 40)
        (v,) = rows(sessions)  # the track has ended: the row says how long the person was seen
        assert v.sightings == 20 and v.last_seen > v.first_seen
        status = bus.get_hash(bus.keys.events_status())
        assert set(status) >= {"processed", "violations", "bad_entries", "pending", "lag_s", "db_ok",
                               "updated_at"}
        assert svc.counters()["violations"] == 1
        # the camera was watched between its frames: 20 frames at 5 fps, 3.8 s, stored in whole seconds
        # (a minute's worth at a time while running, the rest when the service stops)
        span = feed.msgs[-1].captured_at - feed.msgs[0].captured_at
    with database(db_url) as (engine, sessions), sessions() as s:
        assert s.scalar(select(func.sum(CameraHour.watched_s))) == int(span)


def test_runs_on_the_in_process_bus(tmp_path):
    """`maskwatch run` without Redis uses MemoryBus: same interface, same outcome."""
    from maskwatch.membus import MemoryBus

    mem = MemoryBus("mem")
    url = sqlite_database(tmp_path, "events.db")
    cfg = events_config(mem, url, tmp_path / "snaps")
    with database(url) as (_, sessions), running(cfg, mem, sessions, tmp_path / "snaps"):
        push(mem, Feed().episode().msgs)
        wait_for(settled(mem, 1, sessions), what="one violation and nothing pending")


def test_render_frame_boxes_the_violator_and_blurs_the_others(tmp_path):
    img = np.zeros((240, 320, 3), np.uint8)
    img[::2, ::2] = 255  # texture that a blur flattens
    frame = cv2.imencode(".png", img)[1].tobytes()
    boxes = ((10.0, 40.0, 50.0, 88.0), (200.0, 150.0, 240.0, 198.0))
    s = Sighting(0.0, boxes[0], 0.9, 0.5, "1-0", 0, 0.9, b"", frame, FrameInfo(320, 240, "m", boxes))
    snap = parse_config({"snapshots": {"jpeg_quality": 95}}, env={}).snapshots
    plain = cv2.imdecode(np.frombuffer(render_frame(s, snap), np.uint8), cv2.IMREAD_COLOR)
    blurred = cv2.imdecode(np.frombuffer(render_frame(s, snap.model_copy(update={"blur_faces": True})),
                                         np.uint8), cv2.IMREAD_COLOR)
    other = (slice(155, 195), slice(205, 235))
    assert blurred[other].std() < plain[other].std() / 3
    assert tuple(plain[40, 30]) != (0, 0, 0) and plain[40, 30][2] > 150  # red box edge (BGR)


# (b) ------------------------------------------------------------------------------------------------

def test_crash_and_replay_store_every_violation_exactly_once(bus, tmp_path):
    url = sqlite_database(tmp_path, "events.db")
    raw = {"redis": {"url": REDIS_URL, "prefix": bus.keys.prefix}, "database": {"url": url},
           "snapshots": {"dir": str(tmp_path / "snaps")},
           "events": {"reorder_s": 0.05, "track_max_gap_s": 2.0, "vote_n": 5, "vote_k": 3}}
    feed = Feed()
    for i in range(6):
        feed.episode(bad_y=30 if i % 2 else 100, gap=12)
    # the kill lands in episode 2, after its violation and before its tracks end (2 s of silence):
    # the masked walker's vote window holds entries that also carry the violator, so a naive replay
    # would report them again
    cut = 24 + 8
    log_path = tmp_path / "child.log"
    procs = []
    try:
        with database(url) as (_, sessions):
            procs.append(start_child(raw, log_path))
            push(bus, feed.msgs[:cut])
            wait_for(lambda: len(rows(sessions)) == 2, 15, "two violations before the crash")
            wait_for(lambda: bus.get_hash(bus.keys.events_status()).get("processed") == str(cut), 5,
                     "the first part processed")
            os.kill(procs[0].pid, signal.SIGKILL)
            procs[0].wait(timeout=10)
            at_kill = pending(bus)
            assert at_kill > 0
            push(bus, feed.msgs[cut:])
            procs.append(start_child(raw, log_path))
            wait_for(settled(bus, 6, sessions), 15, "six violations and nothing pending")
            # everything replayed and released (status is published once a second): nothing late either
            status = wait_for(lambda: (st := bus.get_hash(bus.keys.events_status())).get("processed") == str(
                len(feed.msgs) - cut + at_kill) and st, 5, "the replay processed")
            found = rows(sessions)
            assert len(found) == 6 and len({v.id for v in found}) == 6
            assert sorted(feed.episode_of(v) for v in found) == list(range(6))
            assert int(status["rejoined"]) == 1, status  # the violator re-found, not reported again
            assert pending(bus) == 0
            # the row that was in progress at the kill still advanced: seen to the end of its episode
            crashed = [v for v in found if feed.episode_of(v) == 2][0]
            last = crashed.last_seen.replace(tzinfo=dt.UTC) if crashed.last_seen.tzinfo is None else crashed.last_seen
            assert last.timestamp() == pytest.approx(feed.episodes[2][1] - 1 / FPS, abs=1e-3)
            assert crashed.sightings == 12  # every sighting of the episode once, none replayed twice
            # the clips asked of ingest: a kill may cost a clip, never a violation, and the replay asks
            # for none twice and for nothing that is not a stored violation
            asked = [clip_requests.decode(f).violation_id for _, f in bus.r.xrange(bus.keys.clip_requests(CAM))]
            assert len(asked) == len(set(asked)) and set(asked) <= {v.id for v in found}, asked
            # the restarted process asks for the clips of the violations it found (the one in progress at
            # the kill: whether its note was sent before the kill depends on the moment)
            assert {3, 4, 5} <= {feed.episode_of(v) for v in found if v.id in asked}, asked
    except AssertionError:
        print(log_path.read_text())
        raise
    finally:
        for p in procs:
            stop_child(p)


# (c) ------------------------------------------------------------------------------------------------

def test_database_outage_holds_acks_and_loses_nothing(bus, tmp_path):
    feed = Feed()
    for i in range(3):
        feed.episode(bad_y=30 if i % 2 else 100)
    first = 16
    with pg_database() as name, TcpProxy("127.0.0.1", 5432) as proxy:
        direct_engine = make_engine(pg_url(name))
        direct = session_factory(direct_engine)
        cfg = events_config(bus, pg_url(name, proxy.port), tmp_path / "snaps")
        try:
            with database(cfg.database.url) as (_, sessions), \
                    running(cfg, bus, sessions, tmp_path / "snaps") as svc:
                svc.store.BACKOFF_MAX_S = 1.0  # keeps the test short; production caps at 2 s
                push(bus, feed.msgs[:first])
                wait_for(settled(bus, 1, direct), what="the first violation")
                proxy.cut()
                push(bus, feed.msgs[first:])
                wait_for(lambda: not svc.counters()["db_ok"], what="the service to notice the outage")
                held, processed = pending(bus), svc.counters()["processed"]
                assert held > 0
                time.sleep(1.0)
                assert pending(bus) == held  # nothing acked, nothing new read while the DB is down
                assert svc.counters()["processed"] == processed
                assert len(rows(direct)) == 1
                assert bus.get_hash(bus.keys.events_status())["db_ok"] == "0"
                proxy.restore()
                wait_for(settled(bus, 3, direct), 15, "every violation after the outage")
                assert svc.counters()["db_ok"] == 1
            found = rows(direct)
            assert sorted(feed.episode_of(v) for v in found) == [0, 1, 2]
        finally:
            direct_engine.dispose()


# (d) ------------------------------------------------------------------------------------------------

def test_corrupt_and_foreign_entries_are_counted_and_acked(bus, tmp_path):
    url = sqlite_database(tmp_path, "events.db")
    feed = Feed().episode()
    good = encode(feed.msgs[0])
    meta = json.loads(good[b"meta"])
    bad_box = {**meta, "faces": [{**meta["faces"][0], "box": [1, 2, 3]}, meta["faces"][1]]}
    junk = [
        {b"foo": b"bar"},
        {b"v": b"1", b"meta": good[b"meta"]},  # the previous version: refused, not half-read
        {b"v": b"2", b"meta": b"{not json"},
        {b"v": b"2", b"meta": json.dumps({"camera": CAM}).encode()},
        {k: v for k, v in good.items() if k != b"crop:1"},
        {**good, b"meta": json.dumps(bad_box).encode()},
        {**good, b"meta": json.dumps({**meta, "captured_at": "yesterday"}).encode()},
        {**good, b"meta": json.dumps({**meta, "camera": "../../etc"}).encode()},
        {**good, b"crop:0": b"<html>not a jpeg</html>"},  # would be stored as evidence
        {**good, b"frame": b"GIF89a"},
        {**good, b"frame": cv2.imencode(".jpg", np.zeros((48, 64, 3), np.uint8))[1].tobytes()},  # not 320x240
        {**good, b"meta": json.dumps({**meta, "faces": [{**meta["faces"][0], "box": [50, 50, 10, 90]},
                                                        meta["faces"][1]]}).encode()},  # inverted
    ]
    cfg = events_config(bus, url, tmp_path / "snaps")
    with database(url) as (_, sessions), running(cfg, bus, sessions, tmp_path / "snaps") as svc:
        for entry in junk[:4]:
            bus.add(bus.keys.detections(), entry)
        push(bus, feed.msgs[:2])
        for entry in junk[4:]:
            bus.add(bus.keys.detections(), entry)
        push(bus, feed.msgs[2:])
        wait_for(settled(bus, 1, sessions), what="the violation after the junk")
        assert svc.counters()["bad_entries"] == len(junk)
        assert svc.counters()["processed"] == len(feed.msgs)


# (e) ------------------------------------------------------------------------------------------------

def fields(vid: str, p: float = 0.9) -> dict:
    now = dt.datetime(2025, 3, 1, 12, 30, tzinfo=dt.UTC)
    return dict(id=vid, camera_id=CAM, track_id=1, first_seen=now, last_seen=now, p_no_mask=p, face_score=0.8,
                box=[1.0, 2.0, 3.0, 4.0], frame_width=320, frame_height=240, sightings=3,
                crop_path=f"a/{vid}_crop.jpg", frame_path=f"a/{vid}_frame.jpg", model_version="m",
                review_status=ReviewStatus.pending)


def test_insert_is_idempotent_and_never_overwrites_a_review(db_url):
    with database(db_url) as (_, sessions):
        with sessions.begin() as s:
            assert repo.insert_violation_if_absent(s, **fields("ab" * 16))
        with sessions.begin() as s:
            s.execute(update(Violation).values(review_status=ReviewStatus.confirmed, reviewed_by="op"))
        with sessions.begin() as s:
            assert not repo.insert_violation_if_absent(s, **fields("ab" * 16, p=0.5))
        (v,) = rows(sessions)
        assert (v.review_status, v.reviewed_by, v.p_no_mask) == (ReviewStatus.confirmed, "op", 0.9)

        # two writers racing on one id: one creates it, the other neither fails nor overwrites
        barrier, results = threading.Barrier(2), []

        def insert():
            with sessions.begin() as s:
                barrier.wait()
                results.append(repo.insert_violation_if_absent(s, **fields("cd" * 16)))
        threads = [threading.Thread(target=insert) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(results) == [False, True]

        hour = dt.datetime(2025, 3, 1, 12, 45, 10, tzinfo=dt.UTC)
        for _ in range(2):
            with sessions.begin() as s:
                repo.add_camera_hour(s, CAM, hour, people=1, violations=2, sightings=5)
        with sessions() as s:
            (h,) = s.scalars(select(CameraHour)).all()
            assert (h.people, h.violations, h.sightings) == (2, 4, 10)
            assert s.scalar(select(func.count()).select_from(Violation)) == 2


def test_replaying_the_stream_keeps_one_row_and_its_review(bus, tmp_path):
    url = sqlite_database(tmp_path, "events.db")
    feed = Feed().episode()
    cfg = events_config(bus, url, tmp_path / "snaps")
    with database(url) as (_, sessions):
        ids = push(bus, feed.msgs)
        with running(cfg, bus, sessions, tmp_path / "snaps"):
            wait_for(settled(bus, 1, sessions))
        (v,) = rows(sessions)
        frame_file = tmp_path / "snaps" / v.frame_path
        mtime = frame_file.stat().st_mtime_ns
        with sessions.begin() as s:
            s.execute(update(Violation).values(review_status=ReviewStatus.false_positive))
        # a full replay: every entry again under its own id (settled ones were deleted), the group
        # from the start, and no stored identities to hide the re-fired vote
        key = bus.keys.detections()
        bus.r.delete(key)
        for entry_id, m in zip(ids, feed.msgs):
            bus.r.xadd(key, encode(m), id=entry_id)
        bus.r.delete(bus.keys.events_identities(CAM))
        with running(cfg, bus, sessions, tmp_path / "snaps") as svc:
            wait_for(lambda: svc.counters()["processed"] == len(feed.msgs) and pending(bus) == 0)
            assert svc.counters()["violations"] == 0 and svc.counters()["rejoined"] == 0
        with sessions() as s:  # the replay counted nothing twice in the compliance hours
            assert s.scalar(select(func.sum(CameraHour.violations))) == 1
        (again,) = rows(sessions)
        assert again.id == v.id and again.review_status is ReviewStatus.false_positive
        assert frame_file.stat().st_mtime_ns == mtime  # the stored evidence was not rewritten


# webhook ----------------------------------------------------------------------------------------------

def test_webhook_posts_each_new_violation(bus, tmp_path):
    got = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    th = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    th.start()
    try:
        url = sqlite_database(tmp_path, "events.db")
        hook = f"http://127.0.0.1:{server.server_port}/hook"
        cfg = events_config(bus, url, tmp_path / "snaps", webhook_url=hook, webhook_timeout_s=2)
        with database(url) as (_, sessions), running(cfg, bus, sessions, tmp_path / "snaps"):
            push(bus, Feed().episode().msgs)
            wait_for(lambda: got, what="the webhook call")
            (v,) = rows(sessions)
        # events.webhook_url is a sink named "webhook": the versioned payload, through the outbox
        assert got[0]["id"] == v.id and got[0]["camera"]["id"] == CAM and got[0]["schema"] == "maskwatch.alert/1"
        assert got[0]["message_id"] == f"violation:{v.id}" and got[0]["p_no_mask"] == pytest.approx(v.p_no_mask)
    finally:
        server.shutdown()
        server.server_close()
        th.join(timeout=5)


def test_a_face_box_with_absurd_coordinates_keeps_its_violation_clamped_to_the_frame(bus, tmp_path):
    url = sqlite_database(tmp_path, "events.db")
    feed = Feed().episode()
    huge = []
    for m in feed.msgs:
        if m.faces:
            f0 = m.faces[0]
            m = dataclasses.replace(m, faces=[dataclasses.replace(f0, box=(f0.box[0], f0.box[1], 1e300, 1e300)),
                                              *m.faces[1:]])
        huge.append(m)
    cfg = events_config(bus, url, tmp_path / "snaps")
    with database(url) as (_, sessions), running(cfg, bus, sessions, tmp_path / "snaps") as svc:
        push(bus, huge)
        wait_for(settled(bus, 1, sessions), what="the violation, not an OverflowError")
        assert svc.counters()["bad_entries"] == 0
    (v,) = rows(sessions)
    assert v.box[2] == 320.0 and v.box[3] == 240.0 and v.box[0] < 320


def test_entries_of_cameras_not_in_the_config_are_refused(bus, tmp_path):
    url = sqlite_database(tmp_path, "events.db")
    feed = Feed().episode()
    raw = {"redis": {"url": REDIS_URL, "prefix": bus.keys.prefix}, "database": {"url": url},
           "snapshots": {"dir": str(tmp_path / "snaps")}, "cameras": [{"id": "other", "url": "rtsp://h/o"}],
           "events": {"reorder_s": 0.05, "track_max_gap_s": 0.5}}
    cfg = parse_config(raw, env={})
    with database(url) as (_, sessions), running(cfg, bus, sessions, tmp_path / "snaps") as svc:
        push(bus, feed.msgs)
        wait_for(lambda: pending(bus) == 0 and svc.counters()["unknown_camera"] == len(feed.msgs))
        assert rows(sessions) == [] and svc.counters()["processed"] == 0


def test_a_row_the_database_rejects_leaves_no_snapshot_files(bus, tmp_path):
    """PostgreSQL refuses the insert (a check trigger, as a constraint would): the files written
    for it are removed, the rejection counted, and the entries acked rather than stuck."""
    from sqlalchemy import text

    feed = Feed().episode()
    with pg_database() as name:
        engine = make_engine(pg_url(name))
        try:
            upgrade(pg_url(name))
            with engine.begin() as c:
                c.execute(text("CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                               "RAISE EXCEPTION 'refused' USING ERRCODE = 'check_violation'; END $$ LANGUAGE plpgsql"))
                c.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON violations "
                               "FOR EACH ROW EXECUTE FUNCTION refuse()"))
            cfg = events_config(bus, pg_url(name), tmp_path / "snaps")
            with database(cfg.database.url) as (_, sessions), running(cfg, bus, sessions, tmp_path / "snaps") as svc:
                push(bus, feed.msgs)
                wait_for(lambda: svc.counters()["db_rejected"] >= 1 and pending(bus) == 0, 15, "the rejection")
                assert rows(sessions) == []
            left = [p for p in (tmp_path / "snaps").rglob("*") if p.is_file()]
            assert left == []
        finally:
            engine.dispose()
