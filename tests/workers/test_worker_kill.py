"""Two worker processes share the cameras; one is SIGKILLed mid-stream, the other carries on and
takes over what the dead one left pending."""
import os
import signal
import subprocess
import sys
import time

import cv2
import pytest
import yaml
from support.detections import frame_fields
from support.settings import REDIS_URL

from maskwatch.wire import frames as wire_frames
from maskwatch.workers.worker import GROUP


def publish(bus, cams, img, seq):
    for cam in cams:
        bus.add(bus.keys.frames(cam), frame_fields(cam, seq, img), maxlen=50)


def processed(bus, name):
    return int(bus.get_hash(bus.keys.worker_status(name)).get("processed", 0))


@pytest.mark.slow
def test_sigkilled_worker_leaves_nothing_stuck(redis_bus, redis_prefix, scene_images, tmp_path):
    cams = ["a", "b", "c"]
    cfg = {"cameras": [{"id": c, "url": f"rtsp://127.0.0.1:1/{c}"} for c in cams],
           "redis": {"url": REDIS_URL, "prefix": redis_prefix},
           "worker": {"batch_size": 2, "max_wait_ms": 10, "claim_idle_s": 1.0, "max_frame_age_s": 30,
                      "threads": 1}}
    path = tmp_path / "mw.yaml"
    path.write_text(yaml.safe_dump(cfg))
    for c in cams:
        redis_bus.ensure_group(redis_bus.keys.frames(c), GROUP, "0")
    cmd = [sys.executable, "-m", "maskwatch.cli", "worker", "-c", str(path), "--name"]
    procs = {n: subprocess.Popen([*cmd, n]) for n in ("w1", "w2")}
    img = cv2.resize(cv2.imread(str(scene_images[0])), (320, 240))
    try:
        seq = 0
        deadline = time.monotonic() + 60
        while min(processed(redis_bus, "w1"), processed(redis_bus, "w2")) < 3 and time.monotonic() < deadline:
            publish(redis_bus, cams, img, seq)
            seq += 1
            time.sleep(0.1)
        assert processed(redis_bus, "w1") >= 3 and processed(redis_bus, "w2") >= 3
        # the victim holds frames it read but never acked
        os.kill(procs["w1"].pid, signal.SIGKILL)
        procs["w1"].wait(10)
        before = processed(redis_bus, "w2")
        for _ in range(20):
            publish(redis_bus, cams, img, seq)
            seq += 1
            time.sleep(0.25)
        pending = lambda: sum(redis_bus.pending_count(redis_bus.keys.frames(c), GROUP) for c in cams)  # noqa: E731
        deadline = time.monotonic() + 30
        while pending() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert pending() == 0
        assert processed(redis_bus, "w2") >= before + 10  # it kept up (newest frames only when behind)
        assert procs["w2"].poll() is None
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(20)
    assert procs["w2"].returncode == 0  # a warm stop on the first SIGTERM
