"""Motion gating: where a camera's picture changed (ingest), the regions on the wire, and the
detector looking only there (models), as tables over synthetic and real frames."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from support.detections import solid_jpeg

from maskwatch.ingest.motion import MotionGate
from maskwatch.motion_config import MotionConfig
from maskwatch.wire import WireError, frames

CFG = MotionConfig(full_every_s=2.0, pad=0.25)


def grey(square_at: int | None = None, size=(720, 1280)) -> np.ndarray:
    img = np.full(size, 90, np.uint8)
    if square_at is not None:
        img[300:420, square_at:square_at + 120] = 230
    return img


def test_first_frame_full_then_still_then_only_what_moved():
    gate = MotionGate(CFG)
    assert gate.regions(grey(200), 0.0) is None            # nothing to compare with: look at all of it
    assert gate.regions(grey(200), 0.2) == []              # nothing changed: no detection needed
    (x1, y1, x2, y2), = gate.regions(grey(260), 0.4)       # the square moved 60 px right
    assert x1 <= 200 and x2 >= 380 and y1 <= 300 and y2 >= 420  # its old and new place, padded
    assert (x2 - x1) * (y2 - y1) < 0.2 * 1280 * 720
    assert gate.regions(grey(260), 2.5) is None             # full_every_s: a full look re-checks still people


@pytest.mark.parametrize(("second", "expected"), [
    (np.full((720, 1280), 200, np.uint8), None),            # everything changed (lights on): full
    (grey(200) + np.uint8(5), []),                          # a slight exposure shift is not motion
])
def test_big_and_small_changes(second, expected):
    gate = MotionGate(CFG)
    gate.regions(grey(200), 0.0)
    assert gate.regions(second, 0.2) == expected


def test_too_many_regions_look_at_the_whole_frame():
    gate = MotionGate(MotionConfig(max_regions=2))
    gate.regions(grey(), 0.0)
    spots = grey()
    for x in (50, 400, 800, 1150):
        spots[50:80, x:x + 30] = 250
    assert gate.regions(spots, 0.2) is None


@pytest.mark.parametrize("regions", [None, (), ((0, 0, 10, 10), (300, 100, 640, 360))])
def test_regions_travel_with_the_frame(regions):
    m = frames.FrameMsg("gate", 1, 1.0, 640, 360, solid_jpeg((0, 0, 0), (640, 360)), regions)
    assert frames.decode(frames.encode(m)) == m


@pytest.mark.parametrize(("rg", "message"), [
    (b"not json", "rg is not a list"),
    (b"[[0, 0, 10]]", r"region \[0, 0, 10\] is not \[x1, y1, x2, y2\] inside the 640x360 frame"),
    (b"[[0, 0, 700, 10]]", r"region \[0, 0, 700, 10\] is not"),
    (b"[[10, 0, 5, 10]]", r"region \[10, 0, 5, 10\] is not"),
    (b"[" + b",".join([b"[0,0,1,1]"] * 33) + b"]", "at most 32"),
])
def test_bad_regions_are_refused(rg, message):
    fields = frames.encode(frames.FrameMsg("gate", 1, 1.0, 640, 360, solid_jpeg((0, 0, 0), (640, 360))))
    fields[b"rg"] = rg
    with pytest.raises(WireError, match=message):
        frames.decode(fields)


def test_the_detector_looks_only_inside_the_regions(pipeline, scene_images):
    img = cv2.imread(str(scene_images[1]))
    full = pipeline.detector.detect(img)
    assert len(full) >= 2
    first = full.boxes[np.argmax(full.scores)]
    x1, y1, x2, y2 = (int(v) for v in first)
    pad = max(x2 - x1, y2 - y1)
    region = (max(0, x1 - pad), max(0, y1 - pad), min(img.shape[1], x2 + pad), min(img.shape[0], y2 + pad))
    only = pipeline.detector.detect_regions(img, [region])
    assert 1 <= len(only) < len(full)
    assert np.abs(only.boxes[np.argmax(only.scores)] - first).max() < 3  # the same face, the same box
    (none, some) = pipeline.run([img, img], regions=[[], [region]])
    assert len(none) == 0 and len(some) == len(only) and some.p_no_mask is not None
