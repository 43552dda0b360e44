"""How often a worker sends a camera's full frame with its detections (the snapshot's evidence).

The frame is the largest part of a detections entry (a 720p JPEG is 30-110 KB; a face's crop 2-6 KB)
and the only part of it that the site's Redis would otherwise carry five times a second for every
camera where someone is unmasked. Events keeps one frame per violation: the sighting with a frame
in the vote window. So a frame goes when a camera has candidates (faces that look like a violation)
and either one of them is someone new (its centre further than NEAR of its width from every
candidate of the camera's last `interval_s`: a walker at 5 fps moves under a width a frame, so
a person's first candidate frame goes, and their vote window has it) or `interval_s` has passed
since the last frame sent. Per worker and camera: workers stay stateless for correctness, this
only paces.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np

NEAR = 0.75  # of a width: neighbours in a crowd stand about one apart, a walker at 5 fps moves less
KEEP = 512  # candidates remembered per camera, at most


class EvidencePacer:
    def __init__(self, interval_s: float):
        self.interval_s = interval_s
        self._sent: dict[str, float] = {}  # per camera: when its last frame went
        self._seen: dict[str, deque[tuple[float, float, float, float]]] = {}  # (t, cx, cy, width) of candidates

    def send(self, cam: str, boxes: np.ndarray, now: float) -> bool:
        """`boxes`: this frame's candidates, (N, 4) x1 y1 x2 y2."""
        seen = self._seen.setdefault(cam, deque(maxlen=KEEP))
        while seen and now - seen[0][0] >= self.interval_s:
            seen.popleft()
        new = any(self._new(seen, b) for b in boxes)
        for x1, y1, x2, y2 in boxes:
            seen.append((now, (x1 + x2) / 2, (y1 + y2) / 2, max(1.0, x2 - x1)))
        send = len(boxes) > 0 and (new or now - self._sent.get(cam, -math.inf) >= self.interval_s)
        if send:
            self._sent[cam] = now
        return send

    @staticmethod
    def _new(seen, box) -> bool:
        cx, cy, w = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, max(1.0, box[2] - box[0])
        return all(math.hypot(cx - x, cy - y) > NEAR * max(w, sw) for _, x, y, sw in seen)
