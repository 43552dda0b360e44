"""When a worker sends a camera's full frame with its detections (workers.evidence.EvidencePacer)."""
from __future__ import annotations

import numpy as np
import pytest

from maskwatch.workers.evidence import EvidencePacer


def at(*xs: float) -> np.ndarray:
    """Candidates 40 px wide with their left edges at xs."""
    return np.array([[x, 100, x + 40, 148] for x in xs], np.float32).reshape(-1, 4)


@pytest.mark.parametrize("frames, sent", [
    # (time, candidates' left edges) per frame of one camera, 5 fps, interval 2 s
    ([(0.0, [100]), (0.2, [110]), (0.4, [120]), (2.0, [180]), (2.2, [190])], [True, False, False, True, False]),
    ([(0.0, []), (0.2, [])], [False, False]),                       # nobody unmasked: no frame
    ([(0.0, [100]), (0.2, [110, 500]), (0.4, [120, 505])], [True, True, False]),  # someone new: their first frame
    ([(0.0, [100]), (0.2, []), (0.4, [105])], [True, False, False]),  # lost for a frame, found again: the same
    ([(0.0, [100]), (0.2, [500]), (0.4, [510])], [True, True, False]),  # one leaves, another comes elsewhere
    ([(0.0, [100]), (0.2, []), (2.4, [100])], [True, False, True]),   # the same spot an interval later
])
def test_a_frame_goes_with_someone_new_or_after_the_interval(frames, sent):
    pacer = EvidencePacer(2.0)
    assert [pacer.send("cam", at(*xs), t) for t, xs in frames] == sent


def test_cameras_are_paced_apart_and_zero_sends_every_candidate_frame():
    pacer = EvidencePacer(2.0)
    assert pacer.send("a", at(100), 0.0) and pacer.send("b", at(100), 0.1) and not pacer.send("a", at(105), 0.2)
    every = EvidencePacer(0.0)
    assert all(every.send("a", at(100), t / 5) for t in range(10))
