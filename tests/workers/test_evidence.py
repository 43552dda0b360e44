"""When a worker sends a camera's full frame with its detections (workers.evidence.EvidencePacer)."""
from __future__ import annotations

import pytest

from maskwatch.workers.evidence import EvidencePacer


@pytest.mark.parametrize("frames, sent", [
    # (time, candidates) per frame of one camera, 5 fps, interval 2 s
    ([(0.0, 1), (0.2, 1), (0.4, 1), (2.0, 1), (2.2, 1)], [True, False, False, True, False]),
    ([(0.0, 0), (0.2, 0)], [False, False]),                          # nobody unmasked: no frame
    ([(0.0, 1), (0.2, 2), (0.4, 2)], [True, True, False]),            # someone new: their first frame goes
    ([(0.0, 2), (0.2, 1), (0.4, 2)], [True, False, False]),           # a face lost for a frame and found again
    ([(0.0, 1), (0.2, 0), (0.4, 1)], [True, False, False]),
    ([(0.0, 1), (0.2, 0), (2.4, 1)], [True, False, True]),            # gone, and someone an interval later
    ([(0.0, 1), (1.0, 2), (1.2, 1), (1.4, 2)], [True, True, False, False]),  # a second person, once
])
def test_a_frame_goes_with_someone_new_or_after_the_interval(frames, sent):
    pacer = EvidencePacer(2.0)
    assert [pacer.send("cam", n, t) for t, n in frames] == sent


def test_cameras_are_paced_apart_and_zero_sends_every_candidate_frame():
    pacer = EvidencePacer(2.0)
    assert pacer.send("a", 1, 0.0) and pacer.send("b", 1, 0.1) and not pacer.send("a", 1, 0.2)
    every = EvidencePacer(0.0)
    assert all(every.send("a", 1, t / 5) for t in range(10))
