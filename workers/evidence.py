"""How often a worker sends a camera's full frame with its detections (the snapshot's evidence).

The frame is the largest part of a detections entry (a 720p JPEG is 30-110 KB; a face's crop 2-6 KB)
and the only part of it that the site's Redis would otherwise carry five times a second for every
camera where someone is unmasked. Events keeps one frame per violation: the sighting with a frame
in the vote window. So a frame goes when a camera has candidates (faces that look like a violation)
and either more of them than in the camera's previous frame (someone new: their vote window gets a
frame from its first sighting) or `interval_s` has passed since the last one sent. Per worker and camera: workers stay stateless
for correctness, this only paces.
"""
from __future__ import annotations

import math


class EvidencePacer:
    def __init__(self, interval_s: float):
        self.interval_s = interval_s
        self._last: dict[str, tuple[float, int]] = {}  # per camera: (last frame sent at, its candidates)

    def send(self, cam: str, candidates: int, now: float) -> bool:
        last_t, before = self._last.get(cam, (-math.inf, 0))
        send = candidates > 0 and (candidates > before or now - last_t >= self.interval_s)
        # compared with the previous frame's count, sent or not: a rise is someone new
        self._last[cam] = (now if send else last_t, candidates)
        return send
