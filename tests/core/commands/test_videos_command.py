"""`maskwatch evaluate --videos`: a violation's moment is its evidence frame's, found by its picture."""
from __future__ import annotations

import cv2
import pytest
from support.make_clip import PAN_FPS

from maskwatch.commands.videos import pinned
from maskwatch.models.evaluation.clipscore import Reported


def test_each_violation_is_pinned_to_its_evidence_frame(panning_video, tmp_path):
    path, frames = panning_video
    cv2.imwrite(str(tmp_path / "ev.jpg"), frames[24], [cv2.IMWRITE_JPEG_QUALITY, 90])
    by_clock = Reported(1.0, 3.0, (10, 10, 40, 40), 25 / PAN_FPS + 0.7, str(tmp_path / "ev.jpg"))
    no_frame = Reported(1.0, 3.0, (10, 10, 40, 40), 2.0)
    a, b = pinned([by_clock, no_frame], path, PAN_FPS)
    assert a.evidence_s == pytest.approx(25 / PAN_FPS) and (a.first_s, a.box) == (1.0, by_clock.box)
    assert b == no_frame
