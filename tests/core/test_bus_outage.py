"""Services across a Redis restart: a real redis-server of the test's own, killed and started
again on the same port with nothing kept (its groups gone too)."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest
import yaml
from support.detections import jpeg

from maskwatch.bus import RedisBus
from maskwatch.config import parse_config
from maskwatch.wire import frames as wire_frames


def wait_for(pred, timeout: float, step: float = 0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(step)
    return False


def _frame_jpeg(scene_images) -> tuple[bytes, int, int]:
    img = cv2.resize(cv2.imread(str(scene_images[0])), (320, 240))
    return jpeg(img, 95), 320, 240


def _publish(bus, jpeg, w, h, seq):
    bus.add(bus.keys.frames("cam"), wire_frames.encode(wire_frames.FrameMsg("cam", seq, time.time(), w, h, jpeg)),
            maxlen=20)


def _processed(bus) -> int:
    return int(bus.get_hash(bus.keys.worker_status("w1")).get("processed", 0))


@pytest.mark.slow
def test_a_worker_survives_a_redis_restart_and_goes_on(private_redis, scene_images, tmp_path):
    cfg = {"cameras": [{"id": "cam", "url": "rtsp://127.0.0.1:1/cam"}],
           "redis": {"url": private_redis.url, "prefix": "t"},
           "worker": {"batch_size": 1, "max_wait_ms": 0, "max_frame_age_s": 30, "threads": 1}}
    path = tmp_path / "mw.yaml"
    path.write_text(yaml.safe_dump(cfg))
    log = open(tmp_path / "worker.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "maskwatch.cli", "worker", "-c", str(path), "--name", "w1"],
                            stdout=log, stderr=subprocess.STDOUT)
    bus = RedisBus(private_redis.url, "t", socket_timeout=2)
    jpeg, w, h = _frame_jpeg(scene_images)
    seq = iter(range(10_000))
    try:
        assert wait_for(lambda: (_publish(bus, jpeg, w, h, next(seq)), _processed(bus) >= 3)[1], 60), \
            "the worker never processed a frame"
        private_redis.kill()
        time.sleep(3)  # the worker meets the outage: connection refused, again and again
        assert proc.poll() is None, (tmp_path / "worker.log").read_text()
        private_redis.start()  # same port, empty: no streams, no groups
        # counted on the new server's own stream: every result there was made after the restart (the
        # status hash's count may still hold frames done before the kill, reported late)
        assert wait_for(lambda: (_publish(bus, jpeg, w, h, next(seq)),
                                 bus.length(bus.keys.detections()) >= 2)[1], 60), \
            "no frames processed and published after Redis came back"
        assert proc.poll() is None
        status = bus.get_hash(bus.keys.worker_status("w1"))
        assert wait_for(lambda: bus.get_hash(bus.keys.worker_status("w1")).get("state") == "running", 10)
        assert int(status.get("bus_errors", 0)) >= 1 or int(
            bus.get_hash(bus.keys.worker_status("w1")).get("bus_errors", 0)) >= 1
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(20)
        log.close()
        bus.close()
    assert proc.returncode == 0, (tmp_path / "worker.log").read_text()


def test_ingest_keeps_its_cameras_open_through_a_redis_outage(private_redis, tmp_path, caplog):
    frames = [np.full((120, 160, 3), 40 + i, np.uint8) for i in range(50)]
    clip = tmp_path / "cam.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for f in frames:
        writer.write(f)
    writer.release()
    cfg = parse_config({"cameras": [{"id": "cam", "url": str(clip), "fps": 10}],
                        "redis": {"url": private_redis.url, "prefix": "t"},
                        "ingest": {"status_interval_s": 0.2, "loop_files": True}}, env={})
    from maskwatch.ingest.reader import CameraReader

    bus = RedisBus(private_redis.url, "t", socket_timeout=1)
    stop = threading.Event()
    reader = CameraReader(cfg.cameras[0], cfg.ingest, cfg.redis, bus, stop)
    caplog.set_level(logging.INFO)
    reader.start()
    try:
        assert wait_for(lambda: reader.sent_total >= 5, 15)
        read_before = reader.read_total
        private_redis.kill()
        assert wait_for(lambda: reader.dropped_bus >= 10, 15), "frames were not dropped while Redis was down"
        private_redis.start()
        sent = reader.sent_total
        assert wait_for(lambda: reader.sent_total >= sent + 5, 15), "no frames after Redis came back"
    finally:
        stop.set()
        reader.join(10)
        bus.close()
    assert reader.reconnects == 0 and reader.read_total >= read_before + 15  # never closed, never rewound
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    warnings = [r.getMessage() for r in caplog.records if "bus unavailable" in r.getMessage()]
    assert len(warnings) == 1, warnings  # one line per outage, not one per frame
