"""detections entries: one processed frame, from a worker to the events service. Schema version 2.

`meta` is JSON (camera, timing, faces); every face has a JPEG crop in `crop:<i>` (empty unless the
face looks like a violation: a crop is evidence) and its appearance embedding, a unit vector from
the classifier's pass, in `e8:<i>` (int8, the vector times 127, rounded: half the bytes of float16
at a cosine error under 1e-3) with `emb:<i>` left empty; both empty when the face was not
classified or the model has none. Entries from before `e8` carry the vector in `emb:<i>`
(little-endian float16) and are read as ever; a reader from before `e8` sees no embedding in a new
entry (it tracks by motion alone) rather than a wrong one. The full frame travels in `frame` only
when some face looks like a violation, and then at most every worker.evidence_interval_s a camera
unless a new one does (events needs it for the snapshot).

`pz` (optional, added within version 2; older readers ignore it) is the camera's pose when its frame
was read (maskwatch.wire.pose), as ingest sent it: the events service compensates the camera's own
motion with it.

Version 2 added the embeddings; a face's `p_incorrect` (three-verdict models) was added within
version 2, read as 0 where absent. A version 1 entry is refused with a WireError naming both versions:
entries left in a stream across an upgrade are counted and skipped, never half-read.
Embeddings are for tracking only: the events service keeps them in memory and in Redis for the
revisit window, never in SQL, snapshots or the API.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from dataclasses import field as dc_field

import numpy as np

from maskwatch.rule import verdict
from maskwatch.wire import WireError, check_version, field
from maskwatch.wire.pose import Pose

VERSION = 2
KIND = "detections"
MAX_EMBEDDING = 4096
INT8_SCALE = 127.0  # a unit vector's values lie in -1..1
CROP_MARGIN = 0.3  # a face's crop: the square of its longest side x (1 + this), what snapshots keep


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]
    score: float
    p_no_mask: float
    p_incorrect: float = 0.0  # a three-verdict model's share of p_no_mask that is a mask worn incorrectly


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
    embeddings: list[np.ndarray | None] = dc_field(default_factory=list)  # per face; [] for none at all
    frame_jpeg: bytes | None = None
    timings_ms: dict[str, float] = dc_field(default_factory=dict)
    pose: Pose | None = None

    def is_violation(self, f: Face) -> bool:
        return f.p_no_mask >= self.threshold and f.score >= self.min_face_score

    def verdict(self, f: Face) -> str:
        return verdict(self.is_violation(f), f.p_incorrect)

    @property
    def has_candidate(self) -> bool:
        return any(self.is_violation(f) for f in self.faces)


def encode(m: DetectionMsg) -> dict[bytes, bytes]:
    if len(m.crops) != len(m.faces):
        raise WireError(f"{KIND}: {len(m.faces)} faces but {len(m.crops)} crops")
    if m.embeddings and len(m.embeddings) != len(m.faces):
        raise WireError(f"{KIND}: {len(m.faces)} faces but {len(m.embeddings)} embeddings")
    meta = {k: v for k, v in asdict(m).items() if k not in ("crops", "frame_jpeg", "embeddings", "pose")}
    out = {b"v": str(VERSION).encode(), b"meta": json.dumps(meta, separators=(",", ":")).encode(),
           b"frame": m.frame_jpeg or b""}
    if m.pose is not None:
        out[b"pz"] = m.pose.encode()
    for i, crop in enumerate(m.crops):
        out[f"crop:{i}".encode()] = crop
    for i, emb in enumerate(m.embeddings or [None] * len(m.faces)):
        out[f"emb:{i}".encode()] = b""
        out[f"e8:{i}".encode()] = b"" if emb is None else \
            np.clip(np.rint(np.asarray(emb, np.float32) * INT8_SCALE), -127, 127).astype(np.int8).tobytes()
    return out


def _embedding(fields: dict[bytes, bytes], i: int) -> np.ndarray | None:
    int8 = fields.get(f"e8:{i}".encode()) or b""
    raw = field(fields, f"emb:{i}".encode(), KIND)
    if int8:
        if len(int8) > MAX_EMBEDDING:
            raise WireError(f"{KIND}: embedding {i} has {len(int8)} int8 values, more than {MAX_EMBEDDING}")
        emb = np.frombuffer(int8, np.int8).astype(np.float32) / INT8_SCALE
    elif not raw:
        return None
    elif len(raw) % 2 or len(raw) // 2 > MAX_EMBEDDING:
        raise WireError(f"{KIND}: embedding {i} has {len(raw)} bytes, not float16 values")
    else:
        emb = np.frombuffer(raw, "<f2").astype(np.float32)
    norm = float(np.linalg.norm(emb))
    if not np.isfinite(norm) or norm < 0.5:  # a unit vector, give or take float16 rounding
        raise WireError(f"{KIND}: embedding {i} is not a unit vector")
    return emb / norm


def _share(value) -> float:
    q = float(value)
    if not 0.0 <= q <= 1.0:  # also refuses nan
        raise WireError(f"{KIND}: p_incorrect {value!r} is not a share in 0..1")
    return q


def decode(fields: dict[bytes, bytes]) -> DetectionMsg:
    check_version(fields, KIND, VERSION)
    try:
        meta = json.loads(field(fields, b"meta", KIND))
        if not isinstance(meta, dict) or not isinstance(meta.get("faces"), list):
            raise WireError(f"{KIND}: meta is not an object with a list of faces")
        faces = [Face(tuple(float(v) for v in f["box"]), float(f["score"]), float(f["p_no_mask"]),
                      _share(f.get("p_incorrect", 0.0))) for f in meta.pop("faces")]
        crops = [field(fields, f"crop:{i}".encode(), KIND) for i in range(len(faces))]
        embs = [_embedding(fields, i) for i in range(len(faces))]
        pose = Pose.decode(fields[b"pz"], KIND) if fields.get(b"pz") else None
        return DetectionMsg(faces=faces, crops=crops, embeddings=embs, frame_jpeg=fields.get(b"frame") or None,
                            pose=pose, **meta)
    except WireError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise WireError(f"{KIND}: bad meta: {e}") from None
