"""Cameras at runtime on a running site: `maskwatch run` (ingest, a worker, events) with two
cameras served by GStreamer's RTSP server; a third is added and one removed the way the dashboard
does it (the cameras table, then the list published). The new camera is read and its frames
processed within seconds, the removed one stops, and the other cameras' frame counters never stop."""
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import yaml
from support.browser import artifacts
from support.make_clip import make_h264_clip
from support.rtsp import RtspServer, gst_available
from support.settings import REDIS_URL, ROOT

from maskwatch import camera_set
from maskwatch.status import CameraStatusRecord
from maskwatch.storage import cameras as table
from maskwatch.storage.db import make_engine, session_factory

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not gst_available() and not os.environ.get("CI"),
                                                     reason="GStreamer RTSP server not installed")]
FPS = 10


def _clip(tmp_path, name: str, shade: int):
    frames = []
    for i in range(3 * FPS):
        img = np.full((120, 160, 3), shade, np.uint8)
        img[40:80, (5 * i) % 130:(5 * i) % 130 + 30] = 255
        frames.append(img)
    return make_h264_clip(frames, FPS, tmp_path / f"{name}.h264")


def _sent(bus, cam: str) -> tuple[str, int]:
    rec = CameraStatusRecord.from_hash(bus.get_hash(bus.keys.camera_status(cam)))
    return rec.state, rec.frames_sent


def _wait(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Sampler(threading.Thread):
    """Each camera's frames_sent every 0.2 s, to find any stall while the list changes."""

    def __init__(self, bus, cams):
        super().__init__(daemon=True)
        self.bus, self.cams, self.stop = bus, cams, threading.Event()
        self.seen: dict[str, list[tuple[float, int]]] = {c: [] for c in cams}

    def run(self):
        while not self.stop.wait(0.2):
            for cam in self.cams:
                self.seen[cam].append((time.monotonic(), _sent(self.bus, cam)[1]))

    def longest_stall(self, cam: str, until: float | None = None) -> float:
        """The longest time its counter did not move (until `until`)."""
        rows = [r for r in self.seen[cam] if until is None or r[0] <= until]
        stall, since = 0.0, rows[0][0]
        for (_, n0), (t1, n1) in zip(rows, rows[1:]):
            if n1 > n0:
                since = t1
            stall = max(stall, t1 - since)
        return stall


def test_a_camera_added_and_one_removed_while_the_others_run(tmp_path, redis_prefix, redis_bus):
    server = RtspServer({n: _clip(tmp_path, n, s) for n, s in (("gate", 60), ("hall", 120), ("dock", 180))},
                        fps=FPS).start()
    db = f"sqlite:///{tmp_path / 'site.db'}"
    cfg = {"cameras": [{"id": "gate", "url": server.url("gate"), "fps": 5},
                       {"id": "hall", "url": server.url("hall"), "fps": 5}],
           "redis": {"url": REDIS_URL, "prefix": redis_prefix}, "database": {"url": db},
           "snapshots": {"dir": str(tmp_path / "snaps")},
           "ingest": {"status_interval_s": 0.2}, "worker": {"max_frame_age_s": 10}}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.Popen([sys.executable, "-m", "maskwatch.cli", "run", "-c", str(path), "--no-dashboard"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler = Sampler(redis_bus, ["gate", "hall"])
    engine = make_engine(db)
    sessions = session_factory(engine)
    try:
        _wait(lambda: all(_sent(redis_bus, c)[1] > 5 for c in ("gate", "hall")), 90, "both cameras sending")
        _wait(lambda: camera_set.read(redis_bus) is not None, 70, "the site's list published (file seeded)")
        sampler.start()
        time.sleep(2)

        with sessions.begin() as s:  # what the dashboard's Save does
            table.save(s, {"id": "dock", "url": server.url("dock"), "fps": 5}, "admin")
            version, specs = table.current(s)
        camera_set.publish(redis_bus, version, specs)
        added = time.monotonic()
        _wait(lambda: _sent(redis_bus, "dock")[1] > 5, 20, "the added camera sending")
        online_after = time.monotonic() - added
        _wait(lambda: any(int(float(redis_bus.get_hash(k).get("processed:dock", 0))) > 0
                          for k in redis_bus.scan_keys(f"{redis_prefix}:status:worker:*")), 20,
              "a worker processing the added camera")
        time.sleep(2)

        with sessions.begin() as s:  # what the dashboard's Remove does
            table.remove(s, "hall", "admin")
            version, specs = table.current(s)
        camera_set.publish(redis_bus, version, specs)
        removed = time.monotonic()
        _wait(lambda: _sent(redis_bus, "hall")[0] == "stopped", 20, "the removed camera stopped")
        time.sleep(3)
    finally:
        sampler.stop.set()
        os.kill(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        server.stop()
        engine.dispose()
    assert proc.returncode == 0, out[-3000:]
    (artifacts() / "cameras-at-runtime.txt").write_text(
        f"added camera sending after {online_after:.1f} s; longest stall of the others: "
        f"gate {sampler.longest_stall('gate'):.2f} s, hall {sampler.longest_stall('hall', until=removed):.2f} s "
        f"(status every 0.2 s)\n")
    assert online_after < 10, online_after
    assert sampler.longest_stall("gate") < 1.5, sampler.seen["gate"]   # never stopped, whatever changed
    assert sampler.longest_stall("hall", until=removed) < 1.5, sampler.seen["hall"]
    assert "camera dock: added at runtime" in out and "camera hall: removed, its reader stops" in out
