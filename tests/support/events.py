"""The events service's test helpers: a camera's detections feed, running the service, reading rows."""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from sqlalchemy import select

from maskwatch.builders import events_service
from maskwatch.config import parse_config
from maskwatch.storage.db import make_engine, session_factory
from maskwatch.storage.snapshots import SnapshotStore
from maskwatch.storage.tables import Violation
from maskwatch.wire.detections import encode
from maskwatch.workers.events import GROUP
from support.detections import detection
from support.settings import REDIS_URL, ROOT

CAM = "gate-1"
FPS = 5.0
BAD_P, GOOD_P = 0.92, 0.08


def raw_config(bus, url: str, snap_dir: Path, top: dict | None = None, **events) -> dict:
    """An events test's config as a dict (for a child process's file): fast vote and reorder
    settings, its bus prefix and database; `top` adds top-level sections (cameras, alerts...)."""
    ev = {"reorder_s": 0.05, "track_max_gap_s": 0.5, "vote_n": 5, "vote_k": 3, **events}
    return {"redis": {"url": REDIS_URL, "prefix": bus.keys.prefix}, "database": {"url": url},
            "snapshots": {"dir": str(snap_dir)}, "events": ev, **(top or {})}


def events_config(bus, url: str, snap_dir: Path, top: dict | None = None, **events):
    return parse_config(raw_config(bus, url, snap_dir, top, **events), env={})


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
def running(config, bus, sessions, snap_dir: Path, name: str = "events", shard=None):
    stop = threading.Event()
    svc = events_service(config, bus, sessions, SnapshotStore(snap_dir), stop, name, shard)
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
