"""detections entries: one processed frame, from a worker to the events service. Schema version 1.

`meta` is JSON (camera, timing, faces); every face has a JPEG crop in `crop:<i>`; the full frame
travels in `frame` only when some face looks like a violation (events needs it for the snapshot).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from dataclasses import field as dc_field

from maskwatch.wire import WireError, check_version, field

VERSION = 1
KIND = "detections"


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]
    score: float
    p_no_mask: float


@dataclass(frozen=True)
class DetectionMsg:
    camera: str
    seq: int
    captured_at: float
    detected_at: float
    worker: str
    model_version: str
    width: int
    height: int
    threshold: float
    faces: list[Face]
    min_face_score: float = 0.0
    crops: list[bytes] = dc_field(default_factory=list)
    frame_jpeg: bytes | None = None
    timings_ms: dict[str, float] = dc_field(default_factory=dict)

    def is_violation(self, f: Face) -> bool:
        return f.p_no_mask >= self.threshold and f.score >= self.min_face_score

    @property
    def has_candidate(self) -> bool:
        return any(self.is_violation(f) for f in self.faces)


def encode(m: DetectionMsg) -> dict[bytes, bytes]:
    if len(m.crops) != len(m.faces):
        raise WireError(f"{KIND}: {len(m.faces)} faces but {len(m.crops)} crops")
    meta = {k: v for k, v in asdict(m).items() if k not in ("crops", "frame_jpeg")}
    out = {b"v": str(VERSION).encode(), b"meta": json.dumps(meta, separators=(",", ":")).encode(),
           b"frame": m.frame_jpeg or b""}
    for i, crop in enumerate(m.crops):
        out[f"crop:{i}".encode()] = crop
    return out


def decode(fields: dict[bytes, bytes]) -> DetectionMsg:
    check_version(fields, KIND, VERSION)
    try:
        meta = json.loads(field(fields, b"meta", KIND))
        if not isinstance(meta, dict) or not isinstance(meta.get("faces"), list):
            raise WireError(f"{KIND}: meta is not an object with a list of faces")
        faces = [Face(tuple(float(v) for v in f["box"]), float(f["score"]), float(f["p_no_mask"]))
                 for f in meta.pop("faces")]
        crops = [field(fields, f"crop:{i}".encode(), KIND) for i in range(len(faces))]
        return DetectionMsg(faces=faces, crops=crops, frame_jpeg=fields.get(b"frame") or None, **meta)
    except WireError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise WireError(f"{KIND}: bad meta: {e}") from None
