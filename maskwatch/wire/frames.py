"""frames:{camera} entries: one JPEG frame as captured by ingest. Schema version 1."""
from __future__ import annotations

from dataclasses import dataclass

from maskwatch.wire import WireError, check_version, field

VERSION = 1
KIND = "frame"


@dataclass(frozen=True)
class FrameMsg:
    camera: str
    seq: int              # per-camera counter since ingest started
    captured_at: float    # epoch seconds when ingest read the frame
    width: int
    height: int
    jpeg: bytes


def encode(m: FrameMsg) -> dict[bytes, bytes]:
    return {b"v": str(VERSION).encode(), b"cam": m.camera.encode(), b"seq": str(m.seq).encode(),
            b"ts": repr(m.captured_at).encode(), b"w": str(m.width).encode(), b"h": str(m.height).encode(),
            b"jpg": m.jpeg}


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
    if not m.jpeg:
        raise WireError(f"{KIND}: empty image")
    return m
