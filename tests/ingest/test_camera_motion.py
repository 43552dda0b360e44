"""How a camera itself moved: the frame-to-frame estimate on a textured scene, the pose ingest sends
(epochs, a still camera looked at less often) and what a worker passes on."""
from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from maskwatch.config import parse_config
from maskwatch.ingest.camera_motion import STILL_CHECK_S, STILL_FRAMES, CameraPose, MotionEstimate
from maskwatch.ingest.reader import CameraReader
from maskwatch.wire import frames as wire

W, H = 1280, 720


def scene(seed: int = 3) -> np.ndarray:
    """A grey scene with texture everywhere (a street's walls and windows, roughly)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (H // 16, W // 16), np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, (W, H), interpolation=cv2.INTER_NEAREST), (5, 5), 0)


def view(img: np.ndarray, dx: float, dy: float, zoom: float = 1.0) -> np.ndarray:
    """The picture a camera sees after the scene moved by (dx, dy) pixels and a zoom about the centre."""
    m = cv2.getRotationMatrix2D((W / 2, H / 2), 0.0, zoom)
    m[:, 2] += (dx, dy)
    return cv2.warpAffine(img, m, (W, H), borderMode=cv2.BORDER_REFLECT)


@pytest.mark.parametrize("dx, dy, zoom", [(24.0, 0.0, 1.0), (-40.0, 12.0, 1.0), (0.0, 0.0, 1.05), (8.0, -6.0, 0.97)])
def test_a_pan_or_zoom_is_measured_in_frame_pixels(dx, dy, zoom):
    est, img = MotionEstimate(), scene()
    assert est.update(img) is None  # nothing before the first frame
    m = est.update(view(img, dx, dy, zoom))
    truth = cv2.getRotationMatrix2D((W / 2, H / 2), 0.0, zoom)
    assert m[0][0] == pytest.approx(zoom, abs=0.005) and abs(m[0][1]) < 0.005
    assert (m[0][2], m[1][2]) == pytest.approx((truth[0, 2] + dx, truth[1, 2] + dy), abs=1.5)


def test_a_blank_picture_cannot_be_told():
    est = MotionEstimate()
    est.update(np.full((H, W), 90, np.uint8))
    assert est.update(np.full((H, W), 90, np.uint8)) is None


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_the_pose_adds_up_the_pans_within_one_epoch():
    cam, img = CameraPose("always"), scene()
    first = cam.update(img)
    poses = [cam.update(view(img, -10.0 * k, 0.0)) for k in (1, 2, 3)]
    assert {p.epoch for p in poses} == {first.epoch}
    moved = poses[-1].since(first)
    assert moved[0][2] == pytest.approx(-30.0, abs=1.5) and abs(moved[1][2]) < 1.0
    assert poses[-1].since(poses[0])[0][2] == pytest.approx(-20.0, abs=1.5)  # a frame dropped between: still right


def test_a_cut_begins_a_new_epoch():
    cam = CameraPose("always")
    a = cam.update(scene(1))
    b = cam.update(np.full((H, W), 90, np.uint8))   # a blank: nothing to relate it to
    c = cam.update(scene(1))
    assert a.epoch < b.epoch < c.epoch and c.since(a) is None


def test_a_still_camera_is_looked_at_every_few_seconds_until_it_moves(monkeypatch):
    clock, img, looks = Clock(), scene(), []
    cam = CameraPose("auto", clock=clock)
    real = cam.estimate.update
    monkeypatch.setattr(cam.estimate, "update", lambda g: looks.append(clock.t) or real(g))
    first = cam.update(img)
    for _ in range(STILL_FRAMES + 20):   # 5 fps
        clock.t += 0.2
        assert cam.update(img) == first  # still: the pose does not change
    assert len(looks) < STILL_FRAMES + 5 and looks[-1] - looks[-2] == pytest.approx(STILL_CHECK_S)
    clock.t += STILL_CHECK_S
    panned = cam.update(view(img, 30.0, 0.0))
    assert panned.since(first)[0][2] == pytest.approx(30.0, abs=1.5)
    n = len(looks)
    clock.t += 0.2
    cam.update(view(img, 40.0, 0.0))
    assert len(looks) == n + 1  # moving: every frame again


def test_off_estimates_nothing():
    assert CameraPose("off").update(scene()) is None


def test_a_panning_file_camera_sends_its_pose_with_each_frame(redis_bus, tmp_path):
    """Ingest on a real video file, a camera panning 8 px a frame: the frames on the bus carry
    poses of one epoch that add up to the pan."""
    path, img = tmp_path / "pan.avi", cv2.cvtColor(scene(), cv2.COLOR_GRAY2BGR)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20, (W, H))
    for i in range(12):
        vw.write(view(img, -8.0 * i, 0.0))
    vw.release()
    cfg = parse_config({"cameras": [{"id": "pan", "url": str(path), "fps": 20}], "redis": {"frames_maxlen": 50},
                        "ingest": {"loop_files": False, "camera_motion": "always"}}, env={})
    reader = CameraReader(cfg.cameras[0], cfg.ingest, cfg.redis, redis_bus, threading.Event())
    reader.start()
    reader.join(20)
    sent = [wire.decode(f) for _, f in redis_bus.r.xrange(redis_bus.keys.frames("pan"))]
    assert len(sent) >= 6 and len({m.pose.epoch for m in sent}) == 1
    first, last = sent[0], sent[-1]
    panned = last.pose.since(first.pose)[0][2]
    # frames sent are not every frame read: the pan is 8 px for every frame between them
    assert panned == pytest.approx(-8.0 * (last.seq - first.seq), abs=2.0 + 0.5 * (last.seq - first.seq))
