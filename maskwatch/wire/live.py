"""live:{camera} blobs: a camera's latest processed frame with its faces, for the dashboard's live
views. Schema version 1.

One blob holds both, so the boxes always belong to the picture they are drawn on: b"MWL", a
version byte, a 4-byte big-endian header length, a JSON header, then the frame's JPEG exactly as
ingest sent it (the worker re-encodes nothing). The dashboard draws the labels itself, in screen
pixels, so that they stay legible on a wall of small tiles.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

from maskwatch.wire import WireError
from maskwatch.wire.jpeg import jpeg_size

VERSION = 1
KIND = "live"
MAGIC = b"MWL"
MAX_FACES = 200
MAX_HEADER = 64 << 10
KINDS = ("violation", "mask", "unsure", "face")  # maskwatch.annotate.verdict


@dataclass(frozen=True)
class LiveFace:
    box: tuple[float, float, float, float]   # x1, y1, x2, y2 in frame pixels
    kind: str                                # one of KINDS: the colour
    label: str                               # "no mask 0.99", "mask 0.97"


@dataclass(frozen=True)
class LiveFrame:
    camera: str
    captured_at: float    # epoch seconds when ingest read the frame
    processed_at: float   # when the worker finished it
    width: int
    height: int
    faces: list[LiveFace]
    jpeg: bytes


def encode(m: LiveFrame) -> bytes:
    header = json.dumps({"v": VERSION, "cam": m.camera, "ts": m.captured_at, "at": m.processed_at, "w": m.width,
                         "h": m.height, "faces": [[*map(float, f.box), f.kind, f.label] for f in m.faces[:MAX_FACES]]},
                        separators=(",", ":")).encode()
    return MAGIC + bytes([VERSION]) + len(header).to_bytes(4, "big") + header + m.jpeg


def _face(row) -> LiveFace:
    if not (isinstance(row, list) and len(row) == 6 and row[4] in KINDS and isinstance(row[5], str)):
        raise WireError(f"{KIND}: a face is [x1, y1, x2, y2, kind, label]")
    box = tuple(float(v) for v in row[:4])
    if not all(math.isfinite(v) for v in box):
        raise WireError(f"{KIND}: a face box is not finite")
    return LiveFace(box, row[4], row[5][:40])


def decode(blob: bytes) -> LiveFrame:
    if blob[:3] != MAGIC or len(blob) < 8:
        raise WireError(f"{KIND}: not a live frame")
    if blob[3] != VERSION:
        raise WireError(f"{KIND}: schema version {blob[3]}, expected {VERSION}")
    n = int.from_bytes(blob[4:8], "big")
    if n > MAX_HEADER or len(blob) < 8 + n:
        raise WireError(f"{KIND}: header of {n} bytes out of bounds")
    try:
        h = json.loads(blob[8:8 + n])
        faces = h["faces"]
        if not isinstance(faces, list) or len(faces) > MAX_FACES:
            raise WireError(f"{KIND}: faces is not a list of at most {MAX_FACES}")
        m = LiveFrame(str(h["cam"]), float(h["ts"]), float(h["at"]), int(h["w"]), int(h["h"]),
                      [_face(f) for f in faces], blob[8 + n:])
    except (ValueError, KeyError, TypeError) as e:
        if isinstance(e, WireError):
            raise
        raise WireError(f"{KIND}: bad header: {type(e).__name__}: {e}") from None
    if jpeg_size(m.jpeg) != (m.width, m.height):
        raise WireError(f"{KIND}: the image is not a {m.width}x{m.height} JPEG")
    return m
