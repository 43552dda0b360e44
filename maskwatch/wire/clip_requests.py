"""clipreq:{camera} entries: events asks the camera's ingest for a violation's clip, its evidence
frame, or both. Schema version 1.

Ingest keeps each camera's recent frames (maskwatch.ingest.clips); events knows which of them the
workers saw and where the faces were. So events names the frames, by capture time (the stamp
ingest gave each frame, exact through the frames and detections entries), with the violator's box
to draw and the other faces to blur (only when snapshots.blur_faces asks), and the shard whose
`clips` stream gets the answer. `still` (optional, added within version 1: older readers ignore
it) names the evidence frame, when the workers did not send it (worker.evidence_frames).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

from maskwatch.geometry import Box
from maskwatch.wire import WireError, check_version, field

VERSION = 1
KIND = "clip request"
MAX_FRAMES = 1800       # 60 s at 30 fps: more than any clip config allows
MAX_BOXES = 200         # faces to blur in one frame


@dataclass(frozen=True)
class ClipFrame:
    captured_at: float
    mark: Box | None = None          # the violator's face in this frame, boxed in red
    blur: tuple[Box, ...] = ()       # every other face, when faces are to be blurred


@dataclass(frozen=True)
class ClipRequest:
    camera: str
    violation_id: str
    shard: int                       # the events shard whose clips stream takes the answer
    frames: tuple[ClipFrame, ...]    # in capture order; empty when only the still is asked for
    still: ClipFrame | None = None   # the evidence frame, its other faces to blur (mark: the violator)


def _raw(f: ClipFrame) -> list:
    return [f.captured_at, None if f.mark is None else list(f.mark), [list(b) for b in f.blur]]


def encode(m: ClipRequest) -> dict[bytes, bytes]:
    out = {b"v": str(VERSION).encode(), b"cam": m.camera.encode(), b"vid": m.violation_id.encode(),
           b"shard": str(m.shard).encode(),
           b"frames": json.dumps([_raw(f) for f in m.frames], separators=(",", ":")).encode()}
    if m.still is not None:
        out[b"still"] = json.dumps(_raw(m.still), separators=(",", ":")).encode()
    return out


def _box(raw) -> Box:
    if not (isinstance(raw, list) and len(raw) == 4):
        raise WireError(f"{KIND}: a box is [x1, y1, x2, y2]")
    box = tuple(float(v) for v in raw)
    if not all(math.isfinite(v) for v in box):
        raise WireError(f"{KIND}: a box is not finite")
    return box


def _frame(raw) -> ClipFrame:
    if not (isinstance(raw, list) and len(raw) == 3 and isinstance(raw[2], list)):
        raise WireError(f"{KIND}: a frame is [captured_at, mark or null, [blur boxes]]")
    t = float(raw[0])
    if not math.isfinite(t):
        raise WireError(f"{KIND}: a frame's captured_at is not finite")
    if len(raw[2]) > MAX_BOXES:
        raise WireError(f"{KIND}: more than {MAX_BOXES} faces to blur in one frame")
    return ClipFrame(t, None if raw[1] is None else _box(raw[1]), tuple(_box(b) for b in raw[2]))


def decode(fields: dict[bytes, bytes]) -> ClipRequest:
    check_version(fields, KIND, VERSION)
    try:
        raw = json.loads(field(fields, b"frames", KIND))
        if not isinstance(raw, list) or len(raw) > MAX_FRAMES:
            raise WireError(f"{KIND}: frames is not a list of at most {MAX_FRAMES}")
        shard = int(field(fields, b"shard", KIND))
        if shard < 0:
            raise WireError(f"{KIND}: shard {shard} is negative")
        still = _frame(json.loads(fields[b"still"])) if b"still" in fields else None
        return ClipRequest(field(fields, b"cam", KIND).decode(), field(fields, b"vid", KIND).decode(), shard,
                           tuple(_frame(f) for f in raw), still)
    except WireError:
        raise
    except (ValueError, TypeError, UnicodeDecodeError) as e:
        raise WireError(f"{KIND}: bad field value: {e}") from None
