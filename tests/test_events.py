"""The events service against real Redis, PostgreSQL and SQLite: violations, acks, crash replay, outages."""
from __future__ import annotations

import base64
import contextlib
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
from support.fixtures import REDIS_URL, bus, db_url, detection, pg_database, pg_url  # noqa: F401
from support.tcp_proxy import TcpProxy

from maskwatch.config import parse_config
from maskwatch.storage import repo
from maskwatch.storage.db import make_engine, session_factory, upgrade
from maskwatch.storage.models import CameraHour, ReviewStatus, Violation
from maskwatch.storage.snapshots import SnapshotStore
from maskwatch.wire.detections import encode
from workers.events import GROUP, EventsService, FrameInfo, render_frame, violation_id
from workers.tracker import Sighting

ROOT = Path(__file__).resolve().parent.parent
CAM = "gate-1"
FPS = 5.0
BAD_P, GOOD_P = 0.92, 0.08


def make_config(bus, url: str, snap_dir: Path, **events):
    ev = {"reorder_s": 0.05, "track_max_gap_s": 0.5, "vote_n": 5, "vote_k": 3, **events}
    return parse_config({"redis": {"url": REDIS_URL, "prefix": bus.keys.prefix}, "database": {"url": url},
                         "snapshots": {"dir": str(snap_dir)}, "events": ev}, env={})


class Feed:
    """Builds a camera's detections in capture order: episodes of one unmasked walker and one masked
    walker crossing, separated by empty frames (longer than the track gap)."""

    def __init__(self, t0: float | None = None):
        self.t = time.time() - 600 if t0 is None else t0
        self.seq = 0
        self.msgs = []
        self.episodes: list[tuple[float, float]] = []  # capture time span of each episode
        self.rng = np.random.default_rng(7)

    def person(self) -> np.ndarray:
        """A new person's appearance: a random unit vector (unrelated people are near-orthogonal)."""
        v = self.rng.normal(size=64).astype(np.float32)
        return v / np.linalg.norm(v)

    def _add(self, faces, embeddings=None):
        self.msgs.append(detection(CAM, self.seq, self.t, faces, embeddings=embeddings))
        self.seq += 1
        self.t += 1 / FPS

    def episode(self, frames: int = 12, bad_y: float = 40, noisy_at: int | None = None, gap: int = 4) -> Feed:
        start = self.t
        violator, masked = self.person(), self.person()
        for i in range(frames):
            bad = ((10 + 15 * i, bad_y, 50 + 15 * i, bad_y + 48), BAD_P)
            good_p = 0.8 if i == noisy_at else GOOD_P
            good = ((270 - 15 * i, 150, 310 - 15 * i, 198), good_p)
            self._add([bad, good], [violator, masked])
        self.episodes.append((start, self.t))
        return self.gap(gap)

    def gap(self, frames: int = 4) -> Feed:
        for _ in range(frames):
            self._add([])
        return self

    def episode_of(self, row: Violation) -> int:
        ts = row.first_seen.timestamp() if row.first_seen.tzinfo else \
            row.first_seen.replace(tzinfo=dt.UTC).timestamp()
        (i,) = [i for i, (a, b) in enumerate(self.episodes) if a - 1e-3 <= ts < b]
        return i


def push(bus, msgs) -> list[str]:
    return [bus.add(bus.keys.detections(), encode(m)) for m in msgs]


def wait_for(cond, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def running(config, bus, sessions, snap_dir: Path, name: str = "events"):
    stop = threading.Event()
    svc = EventsService(config, bus, sessions, SnapshotStore(snap_dir), stop, name)
    th = threading.Thread(target=svc.run, name="events-under-test", daemon=True)
    th.start()
    try:
        yield svc
    finally:
        stop.set()
        th.join(timeout=15)
        assert not th.is_alive(), "events service did not stop"


@contextlib.contextmanager
def database(url: str):
    engine = make_engine(url)
    try:
        yield engine, session_factory(engine)
    finally:
        engine.dispose()


def rows(sessions) -> list[Violation]:
    with sessions() as s:
        return list(s.scalars(select(Violation).order_by(Violation.first_seen)))


def pending(bus) -> int:
    return bus.pending_count(bus.keys.detections(), GROUP)


def settled(bus, n_rows: int, sessions):
    return lambda: len(rows(sessions)) == n_rows and pending(bus) == 0


# (a) ------------------------------------------------------------------------------------------------

def test_one_unmasked_one_masked_person_gives_one_violation(bus, db_url, tmp_path):
    feed = Feed().episode(frames=20, noisy_at=7)
    cfg = make_config(bus, db_url, tmp_path / "snaps")
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


def test_runs_on_the_in_process_bus(tmp_path):
    """`maskwatch run` without Redis uses MemoryBus: same interface, same outcome."""
    from maskwatch.membus import MemoryBus

    mem = MemoryBus("mem")
    url = f"sqlite:///{tmp_path / 'events.db'}"
    upgrade(url)
    cfg = make_config(mem, url, tmp_path / "snaps")
    with database(url) as (_, sessions), running(cfg, mem, sessions, tmp_path / "snaps"):
        push(mem, Feed().episode().msgs)
        wait_for(settled(mem, 1, sessions), what="one violation and nothing pending")


def test_render_frame_boxes_the_violator_and_blurs_the_others(tmp_path):
    img = np.zeros((240, 320, 3), np.uint8)
    img[::2, ::2] = 255  # texture that a blur flattens
    frame = cv2.imencode(".png", img)[1].tobytes()
    boxes = ((10.0, 40.0, 50.0, 88.0), (200.0, 150.0, 240.0, 198.0))
    s = Sighting(0.0, boxes[0], 0.9, 0.5, "1-0", 0, 0.9, b"", frame, None)
    info = FrameInfo(320, 240, "m", boxes)
    snap = parse_config({"snapshots": {"jpeg_quality": 95}}, env={}).snapshots
    plain = cv2.imdecode(np.frombuffer(render_frame(s, info, snap), np.uint8), cv2.IMREAD_COLOR)
    blurred = cv2.imdecode(np.frombuffer(render_frame(s, info, snap.model_copy(update={"blur_faces": True})),
                                         np.uint8), cv2.IMREAD_COLOR)
    other = (slice(155, 195), slice(205, 235))
    assert blurred[other].std() < plain[other].std() / 3
    assert tuple(plain[40, 30]) != (0, 0, 0) and plain[40, 30][2] > 150  # red box edge (BGR)


# (b) ------------------------------------------------------------------------------------------------

def start_child(raw_cfg: dict, log_path: Path) -> subprocess.Popen:
    """The real `maskwatch events -c FILE` service in its own process."""
    cfg_path = log_path.with_suffix(".yaml")
    cfg_path.write_text(json.dumps(raw_cfg))  # JSON is YAML
    log = open(log_path, "ab")
    try:
        return subprocess.Popen([sys.executable, "-m", "maskwatch.cli", "events", "-c", str(cfg_path)], cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()


def stop_child(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_crash_and_replay_store_every_violation_exactly_once(bus, tmp_path):
    url = f"sqlite:///{tmp_path / 'events.db'}"
    upgrade(url)
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
        cfg = make_config(bus, pg_url(name, proxy.port), tmp_path / "snaps")
        try:
            with database(cfg.database.url) as (_, sessions), \
                    running(cfg, bus, sessions, tmp_path / "snaps") as svc:
                svc.store.BACKOFF_MAX_S = 1.0  # keeps the test short; production caps at 10 s
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
    url = f"sqlite:///{tmp_path / 'events.db'}"
    upgrade(url)
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
    ]
    cfg = make_config(bus, url, tmp_path / "snaps")
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
    url = f"sqlite:///{tmp_path / 'events.db'}"
    upgrade(url)
    feed = Feed().episode()
    cfg = make_config(bus, url, tmp_path / "snaps")
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
        url = f"sqlite:///{tmp_path / 'events.db'}"
        upgrade(url)
        hook = f"http://127.0.0.1:{server.server_port}/hook"
        cfg = make_config(bus, url, tmp_path / "snaps", webhook_url=hook, webhook_timeout_s=2)
        with database(url) as (_, sessions), running(cfg, bus, sessions, tmp_path / "snaps"):
            push(bus, Feed().episode().msgs)
            wait_for(lambda: got, what="the webhook call")
            (v,) = rows(sessions)
        assert got[0]["id"] == v.id and got[0]["camera"] == CAM and got[0]["frame_path"] == v.frame_path
    finally:
        server.shutdown()
        server.server_close()
        th.join(timeout=5)


# identity: shards, privacy, a restart with the violator still in view ---------------------------

def _shard_config(bus, url, snap_dir, shards):
    return parse_config({"redis": {"url": REDIS_URL, "prefix": bus.keys.prefix}, "database": {"url": url},
                         "snapshots": {"dir": str(snap_dir)},
                         "events": {"reorder_s": 0.05, "track_max_gap_s": 0.5, "shards": shards}}, env={})


def test_a_shard_never_touches_another_shards_cameras(bus, tmp_path):
    from maskwatch.shards import Shard, shard_of

    url = f"sqlite:///{tmp_path / 'events.db'}"
    upgrade(url)
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
        svcs = [stack.enter_context(_running_shard(cfg, bus, sessions, tmp_path / "snaps", Shard(k, 2)))
                for k in range(2)]
        wait_for(lambda: len(rows(sessions)) == 6 and all(
            bus.pending_count(bus.keys.detections(k), GROUP) == 0 for k in range(2)), 15, "one violation a camera")
        for k, svc in enumerate(svcs):
            assert set(svc._cams) == {c for c in cams if shard_of(c, 2) == k}
        assert svcs[0].counters()["wrong_shard"] == 1 and svcs[1].counters()["wrong_shard"] == 0
    assert sorted(v.camera_id for v in rows(sessions)) == cams


@contextlib.contextmanager
def _running_shard(config, bus, sessions, snap_dir, shard):
    stop = threading.Event()
    svc = EventsService(config, bus, sessions, SnapshotStore(snap_dir), stop, f"events-{shard.index}", shard)
    th = threading.Thread(target=svc.run, daemon=True)
    th.start()
    try:
        yield svc
    finally:
        stop.set()
        th.join(timeout=15)


def test_no_descriptor_reaches_sql_files_or_the_api(bus, tmp_path):
    """Appearance descriptors stay in memory and in Redis (with a TTL of revisit_s), nowhere else."""
    from test_dashboard_support import login, make_users
    from test_dashboard_support import make_config as dashboard_config

    from dashboard.app import create_app

    url = f"sqlite:///{tmp_path / 'events.db'}"
    upgrade(url)
    feed = Feed().episode()
    cfg = make_config(bus, url, tmp_path / "snaps", revisit_s=300)
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
    url = f"sqlite:///{tmp_path / 'events.db'}"
    upgrade(url)
    feed = Feed().episode(frames=30, gap=6)
    cfg = make_config(bus, url, tmp_path / "snaps", track_max_gap_s=1.0)
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
    url = f"sqlite:///{tmp_path / 'events.db'}"
    upgrade(url)
    feed = Feed()
    for i in range(40):
        feed.episode(frames=12, bad_y=30 if i % 2 else 100, gap=4)
    cfg = make_config(bus, url, tmp_path / "snaps")
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
    url = f"sqlite:///{tmp_path / 'events.db'}"
    upgrade(url)
    feed = Feed().episode(frames=20, gap=0)
    cfg = make_config(bus, url, tmp_path / "snaps", track_max_gap_s=30)
    with database(url) as (_, sessions):
        push(bus, feed.msgs)
        with running(cfg, bus, sessions, tmp_path / "snaps") as svc:
            wait_for(lambda: svc.counters()["processed"] == 20 and len(rows(sessions)) == 1)
            wait_for(lambda: rows(sessions)[0].sightings == 20, 5, "the row to catch up")
        (v,) = rows(sessions)
    last = v.last_seen.replace(tzinfo=dt.UTC) if v.last_seen.tzinfo is None else v.last_seen
    assert last.timestamp() == pytest.approx(feed.msgs[-1].captured_at, abs=1e-3)
