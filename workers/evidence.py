"""How often a worker sends a camera's full frame with its detections (the snapshot's evidence).

The frame is the largest part of a detections entry (a 720p JPEG is 30-110 KB; a face's crop 2-6 KB)
and the only part of it that the site's Redis would otherwise carry five times a second for every
camera where someone is unmasked. Events keeps one frame per violation: the sighting with a frame
in the vote window. So a frame goes when a camera has candidates (faces that look like a violation)
and either more of them than at any moment of the last `interval_s` (someone new: their vote window
gets a frame from its first sighting) or `interval_s` has passed since the last one sent. Per worker and camera: workers stay stateless
for correctness, this only paces.
"""
from __future__ import annotations

import math
from collections import deque


class EvidencePacer:
    def __init__(self, interval_s: float):
        self.interval_s = interval_s
        self._sent: dict[str, float] = {}  # per camera: when its last frame went
        self._seen: dict[str, deque[tuple[float, int]]] = {}  # per camera: (time, candidates) of the last interval

    def send(self, cam: str, candidates: int, now: float) -> bool:
        seen = self._seen.setdefault(cam, deque())
        while seen and now - seen[0][0] >= self.interval_s:
            seen.popleft()
        # more candidates than at any moment of the last interval: someone new (a face the
        # detector lost for a frame and found again is not)
        peak = max((n for _, n in seen), default=0)
        seen.append((now, candidates))
        send = candidates > 0 and (candidates > peak or now - self._sent.get(cam, -math.inf) >= self.interval_s)
        if send:
            self._sent[cam] = now
        return send
