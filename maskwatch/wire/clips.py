"""clips:{shard} entries: a violation's clip and evidence frame, from the camera's ingest to its
events shard. Schema version 1.

`mp4` is the H.264 clip (maskwatch.clipvideo), or empty with `why` saying why there is none (the
frames were no longer in ingest's memory: it restarted, or the request came too late). `still` is
the evidence frame asked for (a JPEG, the other faces already blurred when asked), or empty with
`still_why`; both were added within version 1 (optional: older readers ignore them).
"""
from __future__ import annotations

from dataclasses import dataclass

from maskwatch.wire import WireError, check_version, field
from maskwatch.wire.jpeg import is_jpeg

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
    why: str = ""        # why there is no clip, when one was asked for and mp4 is empty
    still: bytes = b""   # the evidence frame, when one was asked for
    still_why: str = ""  # why there is none, when one was asked for


def encode(m: ClipMsg) -> dict[bytes, bytes]:
    out = {b"v": str(VERSION).encode(), b"cam": m.camera.encode(), b"vid": m.violation_id.encode(),
           b"mp4": m.mp4, b"frames": str(m.frames).encode(), b"why": m.why.encode()}
    if m.still or m.still_why:
        out.update({b"still": m.still, b"swhy": m.still_why.encode()})
    return out


def decode(fields: dict[bytes, bytes]) -> ClipMsg:
    check_version(fields, KIND, VERSION)
    try:
        m = ClipMsg(field(fields, b"cam", KIND).decode(), field(fields, b"vid", KIND).decode(),
                    field(fields, b"mp4", KIND), int(field(fields, b"frames", KIND)),
                    fields.get(b"why", b"").decode()[:200], fields.get(b"still", b""),
                    fields.get(b"swhy", b"").decode()[:200])
    except (ValueError, UnicodeDecodeError) as e:
        raise WireError(f"{KIND}: bad field value: {e}") from None
    if len(m.mp4) > MAX_BYTES or len(m.still) > MAX_BYTES:
        raise WireError(f"{KIND}: more than {MAX_BYTES} bytes")
    if m.mp4 and m.mp4[4:8] != MP4_BRAND:
        raise WireError(f"{KIND}: not an MP4 file")
    if m.still and not is_jpeg(m.still):
        raise WireError(f"{KIND}: the still is not a JPEG")
    if not (m.mp4 or m.why or m.still or m.still_why):
        raise WireError(f"{KIND}: neither a clip, a still, nor why there is none")
    return m
