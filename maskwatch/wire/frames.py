"""frames:{camera} entries: one JPEG frame as captured by ingest. Schema version 1.

`rg` (optional, added compatibly: an entry without it is a full frame) is where the picture changed
since the camera's previous frame (ingest.motion): a JSON list of [x1, y1, x2, y2] in frame pixels,
an empty list when nothing changed; absent when the whole frame is to be looked at. `pz` (optional,
added compatibly) is the camera's pose (maskwatch.wire.pose), passed on to the events service.

The image is checked at the door, from its header, before anything decodes it: a JPEG, at most
MAX_SIDE a side and MAX_PIXELS in all, of the size the entry declares.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from maskwatch.wire import WireError, check_version, field
from maskwatch.wire.jpeg import jpeg_size
from maskwatch.wire.pose import Pose

VERSION = 1
KIND = "frame"
MAX_SIDE = 8192
MAX_PIXELS = 7680 * 4320  # 8K UHD: ingest downscales anything wider than ingest.max_width anyway
MAX_BYTES = 32 << 20


@dataclass(frozen=True)
class FrameMsg:
    camera: str
    seq: int              # per-camera counter since ingest started
    captured_at: float    # epoch seconds when ingest read the frame
    width: int
    height: int
    jpeg: bytes
    regions: tuple[tuple[int, int, int, int], ...] | None = None   # None: the whole frame
    pose: Pose | None = None  # how the camera has moved (None: not estimated)


MAX_REGIONS = 32


def encode(m: FrameMsg) -> dict[bytes, bytes]:
    out = {b"v": str(VERSION).encode(), b"cam": m.camera.encode(), b"seq": str(m.seq).encode(),
           b"ts": repr(m.captured_at).encode(), b"w": str(m.width).encode(), b"h": str(m.height).encode(),
           b"jpg": m.jpeg}
    if m.regions is not None:
        out[b"rg"] = json.dumps([list(r) for r in m.regions], separators=(",", ":")).encode()
    if m.pose is not None:
        out[b"pz"] = m.pose.encode()
    return out


def _regions(raw: bytes | None, width: int, height: int) -> tuple | None:
    if raw is None:
        return None
    try:
        items = json.loads(raw)
        if not isinstance(items, list) or len(items) > MAX_REGIONS:
            raise ValueError
        out = tuple(tuple(int(v) for v in r) for r in items)
    except (ValueError, TypeError):
        raise WireError(f"{KIND}: rg is not a list of at most {MAX_REGIONS} [x1, y1, x2, y2]") from None
    for r in out:
        if len(r) != 4 or not (0 <= r[0] < r[2] <= width and 0 <= r[1] < r[3] <= height):
            raise WireError(f"{KIND}: region {list(r)} is not [x1, y1, x2, y2] inside the {width}x{height} frame")
    return out


def decode(fields: dict[bytes, bytes]) -> FrameMsg:
    check_version(fields, KIND, VERSION)
    try:
        m = FrameMsg(field(fields, b"cam", KIND).decode(), int(field(fields, b"seq", KIND)),
                     float(field(fields, b"ts", KIND)), int(field(fields, b"w", KIND)),
                     int(field(fields, b"h", KIND)), field(fields, b"jpg", KIND))
    except (UnicodeDecodeError, ValueError) as e:
        if isinstance(e, WireError):
            raise
        raise WireError(f"{KIND}: bad field value: {e}") from None
    pose = Pose.decode(fields[b"pz"], KIND) if fields.get(b"pz") else None
    m = dataclasses.replace(m, regions=_regions(fields.get(b"rg"), m.width, m.height), pose=pose)
    if not m.jpeg:
        raise WireError(f"{KIND}: empty image")
    if len(m.jpeg) > MAX_BYTES:
        raise WireError(f"{KIND}: image of {len(m.jpeg)} bytes, more than {MAX_BYTES}")
    if not (0 < m.width <= MAX_SIDE and 0 < m.height <= MAX_SIDE and m.width * m.height <= MAX_PIXELS):
        raise WireError(f"{KIND}: declared size {m.width}x{m.height} out of bounds (at most {MAX_SIDE} a side, "
                        f"{MAX_PIXELS} pixels)")
    size = jpeg_size(m.jpeg)
    if size is None:
        raise WireError(f"{KIND}: not a JPEG image")
    if size != (m.width, m.height):
        raise WireError(f"{KIND}: the JPEG is {size[0]}x{size[1]}, the entry declares {m.width}x{m.height}")
    return m
