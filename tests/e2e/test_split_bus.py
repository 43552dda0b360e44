"""Frames stay on the edge: ingest and a worker, separate processes, keep their frame streams on a
Redis of their own (redis.frames_url, a private redis-server) while the events process, on the
site's Redis alone, still gets their detections and stores the violation, its evidence frame asked
of ingest (worker.evidence_frames: auto) and drawn, the one frame that crosses."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import cv2
import pytest
import redis
import yaml
from sqlalchemy import select
from support.make_clip import SIZE
from support.settings import DEMO_SCENES, REDIS_URL, ROOT

from maskwatch.models.evaluation.democlip import scene_frames
from maskwatch.storage.db import make_engine, session_factory
from maskwatch.storage.tables import Violation

pytestmark = pytest.mark.slow


def clip(path):
    """The two-people CC0 scene (one unmasked), swaying as a hand-held camera would, as an AVI."""
    img = cv2.imread(str(DEMO_SCENES / "images" / "maksssksksss114.jpg"))
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, SIZE)
    for frame in scene_frames(img, seconds=6, fps=10, size=SIZE, drift_px=30):
        out.write(frame)
    out.release()
    return path


def keys(url: str, pattern: str) -> list[str]:
    client = redis.Redis.from_url(url)
    try:
        return sorted(k.decode() for k in client.scan_iter(pattern))
    finally:
        client.close()


def frame_size(snapshots, row) -> tuple[int, int] | None:
    img = cv2.imread(str(snapshots / row.frame_path))
    return None if img is None else (img.shape[1], img.shape[0])


def test_frames_never_reach_the_site_redis(tmp_path, private_redis, redis_prefix):
    db = tmp_path / "site.db"
    cfg = {"cameras": [{"id": "entrance", "url": str(clip(tmp_path / "entrance.avi")), "fps": 5}],
           "redis": {"url": REDIS_URL, "frames_url": private_redis.url, "prefix": redis_prefix},
           "database": {"url": f"sqlite:///{db}"}, "snapshots": {"dir": str(tmp_path / "snapshots")},
           "events": {"reorder_s": 0.3}, "worker": {"max_frame_age_s": 5}}
    path = tmp_path / "mw.yaml"
    path.write_text(yaml.safe_dump(cfg))
    cli = [sys.executable, "-m", "maskwatch.cli"]
    subprocess.run([*cli, "db", "upgrade", "-c", str(path)], cwd=ROOT, check=True, capture_output=True)
    procs = {name: subprocess.Popen([*cli, name, "-c", str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True) for name in ("ingest", "worker", "events")}
    engine = make_engine(f"sqlite:///{db}")
    try:
        deadline, rows = time.monotonic() + 120, []
        while time.monotonic() < deadline and not (rows and frame_size(tmp_path / "snapshots", rows[0]) == SIZE):
            with session_factory(engine)() as s:
                rows = s.scalars(select(Violation)).all()
            time.sleep(0.5)
        on_edge = keys(private_redis.url, f"{redis_prefix}:*")
        on_site = keys(REDIS_URL, f"{redis_prefix}:*")
    finally:
        for p in procs.values():
            os.kill(p.pid, signal.SIGTERM)
        outs = {name: p.communicate(timeout=60)[0] for name, p in procs.items()}
        engine.dispose()
    assert rows, {name: out[-2000:] for name, out in outs.items()}
    assert frame_size(tmp_path / "snapshots", rows[0]) == SIZE, outs["events"][-2000:]  # not the crop standing in
    assert "its crop stands in" in outs["events"]  # the frame did not cross with the detections
    assert on_edge == [f"{redis_prefix}:frames:entrance"]  # the frames, and nothing else
    assert not [k for k in on_site if ":frames:" in k] and f"{redis_prefix}:detections" in on_site
    assert all(p.returncode == 0 for p in procs.values()), {n: o[-2000:] for n, o in outs.items()}
