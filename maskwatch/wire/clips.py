"""clips:{shard} entries: a violation's clip, from the camera's ingest to its events shard. Schema
version 1.

`mp4` is the H.264 clip (maskwatch.clipvideo), or empty with `why` saying why there is none (the
frames were no longer in ingest's memory: it restarted, or the request came too late).
"""
from __future__ import annotations

from dataclasses import dataclass

from maskwatch.wire import WireError, check_version, field

VERSION = 1
KIND = "clip"
MAX_BYTES = 64 << 20
MP4_BRAND = b"ftyp"  # an MP4 starts with its ftyp box: 4 bytes of size, then this


@dataclass(frozen=True)
class ClipMsg:
    camera: str
    violation_id: str
    mp4: bytes
    frames: int          # frames in the clip
    why: str = ""        # why there is no clip, when mp4 is empty


def encode(m: ClipMsg) -> dict[bytes, bytes]:
    return {b"v": str(VERSION).encode(), b"cam": m.camera.encode(), b"vid": m.violation_id.encode(),
            b"mp4": m.mp4, b"frames": str(m.frames).encode(), b"why": m.why.encode()}


def decode(fields: dict[bytes, bytes]) -> ClipMsg:
    check_version(fields, KIND, VERSION)
    try:
        m = ClipMsg(field(fields, b"cam", KIND).decode(), field(fields, b"vid", KIND).decode(),
                    field(fields, b"mp4", KIND), int(field(fields, b"frames", KIND)),
                    fields.get(b"why", b"").decode()[:200])
    except (ValueError, UnicodeDecodeError) as e:
        raise WireError(f"{KIND}: bad field value: {e}") from None
    if len(m.mp4) > MAX_BYTES:
        raise WireError(f"{KIND}: {len(m.mp4)} bytes, more than {MAX_BYTES}")
    if m.mp4 and m.mp4[4:8] != MP4_BRAND:
        raise WireError(f"{KIND}: not an MP4 file")
    if not m.mp4 and not m.why:
        raise WireError(f"{KIND}: neither a clip nor why there is none")
    return m
