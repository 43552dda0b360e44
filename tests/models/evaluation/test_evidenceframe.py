"""A violation's evidence frame found in its video by its picture: a clock off by a second, the
violator's red box drawn on it, the end of the video."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from support.make_clip import PAN_FPS as FPS
from support.make_clip import PAN_HW

from maskwatch.models.evaluation.evidenceframe import frame_of, thumbs

H, W = PAN_HW


@pytest.mark.parametrize("n, clock_off_s", [(12, 0.0), (12, 0.9), (12, -1.1), (30, 0.4), (40, 0.8), (1, -0.5)])
def test_the_evidence_frame_is_found_by_its_picture(panning_video, n, clock_off_s):
    path, frames = panning_video
    evidence = frames[n - 1].copy()
    cv2.rectangle(evidence, (100, 40), (140, 90), (0, 0, 255), 2)  # the violator, boxed as snapshots are
    assert frame_of(evidence, thumbs(path), n / FPS + clock_off_s, FPS) == n


def test_a_video_without_frames_is_a_clear_error():
    with pytest.raises(ValueError, match="no frames"):
        frame_of(np.zeros((H, W, 3), np.uint8), np.zeros((0, 54, 96), np.float32), 1.0, FPS)
