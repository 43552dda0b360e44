"""The status records each service writes to Redis (one hash each), typed: a camera's (ingest's
CameraReader), a worker's and an events shard's. Each is written with to_hash and read back with
from_hash by the dashboard, the health monitor and the healthcheck, so that the fields and their
meaning live in one place. Reading is tolerant: a missing or malformed field keeps its default (an
older writer, a bad write)."""
from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field, fields


class CameraState(str, enum.Enum):
    starting = "starting"
    online = "online"
    offline = "offline"
    ended = "ended"       # a file source that does not loop reached its end
    stopped = "stopped"


def hash_number(h: dict, key: str, kind=float, default=0):
    """A number from a status hash (Redis gives strings); `default` when missing or malformed."""
    try:
        return kind(float(h.get(key, default)))
    except (TypeError, ValueError):
        return default


class FlatRecord:
    """A dataclass of str, int and float fields stored as one flat hash."""

    def to_hash(self) -> dict[str, str | int | float]:
        return asdict(self)

    @classmethod
    def from_hash(cls, h: dict[str, str]):
        out = cls()
        for f in fields(cls):
            if f.name not in (h or {}):
                continue
            default = getattr(out, f.name)
            value = (str(h[f.name]) if isinstance(default, str) else
                     hash_number(h, f.name, int, default) if isinstance(default, int) else
                     hash_number(h, f.name, float, default))
            setattr(out, f.name, value)
        return out


@dataclass
class CameraStatusRecord(FlatRecord):
    state: str = "unknown"          # a CameraState value; "unknown" when the hash is missing
    name: str = ""
    url: str = ""                   # redacted by ingest
    fps_read: float = 0.0
    fps_sent: float = 0.0
    fps_cap: float = 0.0
    frames_read: int = 0
    frames_sent: int = 0
    frames_dropped_bus: int = 0
    frames_dropped_slow: int = 0
    last_frame_at: float = 0.0
    reconnects: int = 0
    restarts: int = 0
    last_error: str = ""            # redacted by ingest
    next_retry_at: float = 0.0
    width: int = 0
    height: int = 0
    pid: int = 0
    updated_at: float = 0.0
    brightness: float = -1.0        # of the last sent frame, 0-255; -1 before the first
    contrast: float = -1.0
    picture_changed_at: float = 0.0  # when the picture last changed (frozen camera: long ago)

    def fresh(self, now: float, stale_s: float) -> bool:
        return self.updated_at > 0 and now - self.updated_at <= stale_s

    @property
    def online(self) -> bool:
        return self.state == CameraState.online.value


@dataclass
class EventsStatusRecord(FlatRecord):
    """An events shard's counters and health."""
    processed: int = 0
    violations: int = 0
    rejoined: int = 0
    bad_entries: int = 0
    wrong_shard: int = 0
    unknown_camera: int = 0
    not_judged: int = 0          # people whose tracks ended never seen well enough to tell
    still_faces: int = 0         # still faces (pictures) that passed the vote and were not reported
    clips: int = 0               # violation clips kept
    clips_missing: int = 0       # violations whose frames had left ingest's memory: no clip
    stills: int = 0              # evidence frames asked of ingest and drawn (worker.evidence_frames)
    stills_missing: int = 0      # ...that had left its memory: the crop stays as the frame
    pending: int = 0
    lag_s: float = 0.0           # age of the oldest detection not settled yet: a stall shows as growth
    latency_s: float = 0.0       # of the last one settled
    problem: str = ""            # in an operator's words; "" when nothing is wrong
    db_ok: int = 0
    snapshots_ok: int = 0
    db_rejected: int = 0
    shard: str = ""
    cameras: int = 0
    updated_at: float = 0.0


@dataclass
class RetentionStatusRecord(FlatRecord):
    """What retention deleted (shard 0 of events prunes) and the room it left: the cameras page and
    /metrics show it. Totals add up across runs and restarts (the hash has no TTL)."""
    run_at: float = 0.0
    by_age: int = 0              # the last run's
    for_space: int = 0
    by_age_total: int = 0
    for_space_total: int = 0
    folder_bytes: int = 0


# a worker's per-camera counters are stored as "KIND:CAMERA" fields of its hash
PER_CAMERA = ("processed", "dropped", "full", "still", "regions", "frame_ts")
_WORKER_SCALARS = ("state", "updated_at", "model_version", "backend", "detector_backend")


def split_per_camera(flat: dict) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Totals apart from the per-camera "KIND:CAMERA" fields: (totals, camera -> kind -> value)."""
    totals: dict[str, float] = {}
    cams: dict[str, dict[str, float]] = {}
    for key, value in flat.items():
        kind, sep, cam = key.partition(":")
        if sep and cam and kind in PER_CAMERA:
            cams.setdefault(cam, {})[kind] = value
        elif not sep:
            totals[key] = value
    return totals, cams


@dataclass
class WorkerStatusRecord:
    """A worker's state, model, counters (totals and per camera) and mean milliseconds per frame by
    stage (decode, detect, classify, latency)."""
    state: str = "unknown"
    updated_at: float = 0.0
    model_version: str = ""
    backend: str = ""            # the classifier's
    detector_backend: str = ""
    counts: dict[str, int] = field(default_factory=dict)           # processed, faces, batches, bad_frames...
    stage_ms: dict[str, float] = field(default_factory=dict)
    per_camera: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_hash(self) -> dict[str, str | int | float]:
        h: dict[str, str | int | float] = {k: getattr(self, k) for k in _WORKER_SCALARS}
        h.update(self.counts)
        h.update({f"{stage}_ms": ms for stage, ms in self.stage_ms.items()})
        h.update({f"{kind}:{cam}": v for cam, kinds in self.per_camera.items() for kind, v in kinds.items()})
        return h

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> WorkerStatusRecord:
        h = h or {}
        out = cls(state=str(h.get("state", "unknown")), updated_at=hash_number(h, "updated_at"),
                  model_version=str(h.get("model_version", "")), backend=str(h.get("backend", "")),
                  detector_backend=str(h.get("detector_backend", "")))
        totals, cams = split_per_camera({k: v for k, v in h.items() if k not in _WORKER_SCALARS})
        for key in totals:
            if key.endswith("_ms"):
                out.stage_ms[key[:-3]] = hash_number(h, key, float)
            else:
                out.counts[key] = hash_number(h, key, int)
        out.per_camera = {cam: {kind: hash_number(kinds, kind, float if kind == "frame_ts" else int)
                                for kind in kinds} for cam, kinds in cams.items()}
        return out
