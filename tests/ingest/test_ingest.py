"""Ingest against a real GStreamer RTSP server read through OpenCV, and a real Redis."""
import logging
import os
import random
import threading
import time

import numpy as np
import pytest
from support.rtsp import RtspServer, SilentServer, free_port, gst_available

from maskwatch.backoff import backoff_delay
from maskwatch.config import parse_config
from maskwatch.ingest.reader import CameraReader
from maskwatch.ingest.service import IngestService
from maskwatch.wire import frames as wire

# CI installs GStreamer (.ci/system-deps.sh), so there a missing server is a failure, not a skip
pytestmark = pytest.mark.skipif(not gst_available() and not os.environ.get("CI"),
                                reason="GStreamer RTSP server not installed (run .ci/system-deps.sh)")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from support.make_clip import make_h264_clip

    frames = []
    for i in range(30):
        f = np.full((360, 640, 3), 30, np.uint8)
        f[100:200, 20 + i * 15:120 + i * 15] = (0, 200, 255)
        frames.append(f)
    return make_h264_clip(frames, 10, tmp_path_factory.mktemp("clip") / "moving.h264")


@pytest.fixture
def rtsp(clip):
    server = RtspServer({"cam1": clip, "cam2": clip}).start()
    yield server
    server.stop()


def cfg_for(cameras, **ingest):
    return parse_config({"cameras": cameras, "redis": {"frames_maxlen": 50},
                         "ingest": {"open_timeout_s": 2, "read_timeout_s": 2, "backoff_initial_s": 0.2,
                                    "backoff_max_s": 0.8, "status_interval_s": 0.2, **ingest}}, env={})


def wait_for(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return False


def run_ingest(cfg, bus):
    stop = threading.Event()
    svc = IngestService(cfg, bus, stop)
    t = threading.Thread(target=svc.run)
    t.start()
    return svc, stop, t


def test_frames_flow_at_the_fps_cap_and_bad_cameras_stay_isolated(rtsp, redis_bus, caplog):
    silent = SilentServer()
    cams = [{"id": "good", "url": rtsp.url("cam1").replace("rtsp://", "rtsp://admin:hunter2@"), "fps": 4},
            {"id": "refused", "url": f"rtsp://127.0.0.1:{free_port()}/x"},
            {"id": "hangs", "url": f"rtsp://127.0.0.1:{silent.port}/x"},
            {"id": "nofile", "url": "/nonexistent/clip.mp4"}]
    caplog.set_level(logging.INFO)
    svc, stop, t = run_ingest(cfg_for(cams), redis_bus)
    try:
        assert wait_for(lambda: redis_bus.length(redis_bus.keys.frames("good")) >= 1, 10)
        start = time.time()
        time.sleep(3.0)
        sent = redis_bus.r.xrange(redis_bus.keys.frames("good"))
        recent = [wire.decode(f) for _, f in sent if wire.decode(f).captured_at >= start]
        assert 8 <= len(recent) <= 16, len(recent)  # 4 fps cap over 3 s, not the clip's 10 fps
        assert (recent[0].width, recent[0].height) == (640, 360)
        assert [m.seq for m in recent] == sorted(m.seq for m in recent)
        assert wait_for(lambda: redis_bus.get_hash(redis_bus.keys.camera_status("hangs")).get("state") == "offline", 6)
        status = {c["id"]: redis_bus.get_hash(redis_bus.keys.camera_status(c["id"])) for c in cams}
    finally:
        stop.set()
        t.join(20)
        silent.close()
    assert not t.is_alive()
    assert status["good"]["state"] == "online" and float(status["good"]["fps_sent"]) > 2
    assert status["good"]["url"].startswith("rtsp://***@")
    for cam in ("refused", "hangs", "nofile"):
        assert status[cam]["state"] == "offline" and status[cam]["last_error"], cam
    assert "no such file: /nonexistent/clip.mp4" in status["nofile"]["last_error"]
    assert "hunter2" not in caplog.text and all("hunter2" not in str(s) for s in status.values())


def test_server_killed_goes_offline_then_recovers_without_restart(rtsp, redis_bus):
    cams = [{"id": "cam", "url": rtsp.url("cam1"), "fps": 5}]
    svc, stop, t = run_ingest(cfg_for(cams), redis_bus)
    status = lambda: redis_bus.get_hash(redis_bus.keys.camera_status("cam"))  # noqa: E731
    try:
        assert wait_for(lambda: status().get("state") == "online" and int(status().get("frames_sent", 0)) > 3, 10)
        rtsp.kill()
        killed = time.monotonic()
        assert wait_for(lambda: status().get("state") == "offline", 8)
        assert time.monotonic() - killed < 5.0
        assert status()["last_error"]
        time.sleep(3.0)  # several failed reconnects: backoff grows to its cap
        delays = list(svc.readers[0].delays)
        sent_before = int(status()["frames_sent"])
        rtsp.start()
        assert wait_for(lambda: status().get("state") == "online"
                        and int(status().get("frames_sent", 0)) > sent_before + 3, 15)
    finally:
        stop.set()
        t.join(20)
    assert len(delays) >= 3
    assert delays[1] > delays[0] * 1.2 and max(delays) <= 0.8 * 1.2
    assert int(status()["reconnects"]) >= len(delays)


@pytest.mark.parametrize("attempt,low,high", [(1, 0.8, 1.2), (2, 1.6, 2.4), (3, 3.2, 4.8), (10, 24, 36), (50, 24, 36)])
def test_backoff_grows_exponentially_and_is_capped(attempt, low, high):
    rng = random.Random(7)
    for _ in range(50):
        assert low <= backoff_delay(attempt, 1.0, 30.0, rng) <= high


def test_a_file_camera_loops_like_a_live_one(clip, redis_bus, tmp_path):
    import cv2

    path = tmp_path / "short.avi"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20, (160, 120))
    for i in range(10):  # half a second of video
        vw.write(np.full((120, 160, 3), i * 20, np.uint8))
    vw.release()
    cfg = cfg_for([{"id": "file", "url": str(path), "fps": 10}])
    stop = threading.Event()
    reader = CameraReader(cfg.cameras[0], cfg.ingest, cfg.redis, redis_bus, stop)
    reader.start()
    try:
        assert wait_for(lambda: reader.sent_total >= 15, 6)  # 1.5 s of frames from a 0.5 s file
    finally:
        stop.set()
        reader.join(10)
    assert reader.state == "stopped" and reader.reconnects == 0


def test_a_file_camera_without_looping_ends(redis_bus, tmp_path):
    import cv2

    path = tmp_path / "once.avi"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20, (160, 120))
    for i in range(6):
        vw.write(np.full((120, 160, 3), i * 30, np.uint8))
    vw.release()
    cfg = cfg_for([{"id": "file", "url": str(path), "fps": 20}], loop_files=False)
    reader = CameraReader(cfg.cameras[0], cfg.ingest, cfg.redis, redis_bus, threading.Event())
    reader.start()
    reader.join(10)
    assert not reader.is_alive() and reader.state == "ended"
    assert reader.read_total == 6 and reader.reconnects == 0
    assert redis_bus.get_hash(redis_bus.keys.camera_status("file"))["state"] == "ended"


def test_the_picture_is_reported_and_forgotten_across_an_outage(redis_bus):
    """Brightness, contrast and the last change reach the status record; after an outage the old
    picture is dropped, or a camera back online would look frozen since before it went away."""
    from maskwatch.ingest.capture import Offline, Opened, Picture, Progress
    from maskwatch.status import CameraStatusRecord

    cfg = cfg_for([{"id": "gate", "url": "rtsp://127.0.0.1:9/x"}])
    reader = CameraReader(cfg.cameras[0], cfg.ingest, cfg.redis, redis_bus, threading.Event())
    status = lambda: CameraStatusRecord.from_hash(redis_bus.get_hash(redis_bus.keys.camera_status("gate")))  # noqa: E731
    reader._handle(Opened(10.0))
    reader._handle(Progress(50, 0, Picture(3.0, 1.5, 1000.0)))
    reader._publish_status(force=True)
    assert (status().brightness, status().contrast, status().picture_changed_at) == (3.0, 1.5, 1000.0)
    for item in (Offline("refused", 1.0), Opened(10.0)):
        reader._handle(item)
        reader._publish_status(force=True)
        assert (status().brightness, status().picture_changed_at) == (-1.0, 0.0), item
