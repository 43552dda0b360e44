"""The status record ingest writes for each camera (a Redis hash), typed: written by ingest's
CameraReader with to_hash, read back with from_hash by the dashboard, the health monitor and the
healthcheck, so that the fields and their meaning live in one place."""
from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, fields


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


@dataclass
class CameraStatusRecord:
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

    def to_hash(self) -> dict[str, str | int | float]:
        return asdict(self)

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> CameraStatusRecord:
        """Tolerant: a missing or malformed field keeps its default (an older ingest, a bad write)."""
        if not h:
            return cls()
        out = cls()
        for f in fields(cls):
            if f.name not in h:
                continue
            default = getattr(out, f.name)
            value = (str(h[f.name]) if isinstance(default, str) else
                     hash_number(h, f.name, int, default) if isinstance(default, int) else
                     hash_number(h, f.name, float, default))
            setattr(out, f.name, value)
        return out

    def fresh(self, now: float, stale_s: float) -> bool:
        return self.updated_at > 0 and now - self.updated_at <= stale_s

    @property
    def online(self) -> bool:
        return self.state == CameraState.online.value
