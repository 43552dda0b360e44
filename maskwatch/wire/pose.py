"""A camera's pose, the optional `pz` field of frames and detections entries: how the picture has
moved since ingest began an estimate for the camera (ingest.camera_motion), so that the events
service can tell a person who walked from a camera that panned.

`pz` is `EPOCH;a,b,c,d,e,f`: a 2x3 transform, row by row, from the pixels of the epoch's first
frame to this frame's. Only the poses of one epoch can be related; ingest starts a new epoch when it
loses the estimate (a cut, a blank picture, a reopened camera), its number the millisecond it began.
An entry without `pz` is from a camera whose motion is not estimated (or an older sender): it is
taken to be still. Older readers ignore the field.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from maskwatch.geometry import inverse, then
from maskwatch.wire import WireError

Matrix = tuple[tuple[float, float, float], tuple[float, float, float]]
IDENTITY: Matrix = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0))
MAX_SHIFT = 1e6  # pixels: far beyond any real pan, short of anything that overflows
MIN_SCALE, MAX_SCALE = 1e-3, 1e3


@dataclass(frozen=True)
class Pose:
    epoch: int
    m: Matrix = IDENTITY

    def since(self, earlier: Pose | None) -> Matrix | None:
        """The transform from `earlier`'s pixels to this pose's; None when they cannot be related or
        the camera did not move."""
        if earlier is None or earlier.epoch != self.epoch or earlier.m == self.m:
            return None
        return then(inverse(earlier.m), self.m)

    def encode(self) -> bytes:
        return f"{self.epoch};{','.join(repr(float(v)) for row in self.m for v in row)}".encode()

    @classmethod
    def decode(cls, raw: bytes, kind: str) -> Pose:
        try:
            epoch, values = raw.decode().split(";")
            v = [float(x) for x in values.split(",")]
            pose = cls(int(epoch), ((v[0], v[1], v[2]), (v[3], v[4], v[5])))
            if len(v) != 6:
                raise ValueError
        except (UnicodeDecodeError, ValueError, IndexError):
            raise WireError(f"{kind}: pz {raw[:80]!r} is not EPOCH;a,b,c,d,e,f") from None
        (a, b, c), (d, e, f) = pose.m
        det = a * e - b * d
        if not all(math.isfinite(x) for x in v) or abs(c) > MAX_SHIFT or abs(f) > MAX_SHIFT \
                or not MIN_SCALE ** 2 <= abs(det) <= MAX_SCALE ** 2:
            raise WireError(f"{kind}: pz is not a camera's motion (shift {c:g}, {f:g}; area scale {det:g})")
        return pose
