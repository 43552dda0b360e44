"""Camera-health incidents from ingest's status records: offline, frozen, dark, saturated, slow;
and the site's own: the snapshot disk running out of room (DiskHealth).

Pure: `CameraHealth.observe(record, now)` says which incidents open and close. A condition opens
its incident once it has held for its threshold (alerts.health), dated from when it began, and
closes it once it has been gone for CLOSE_AFTER_S, so a flicker neither opens nor closes one.
Frozen, dark, saturated and slow need a picture: they are not judged while a camera is offline
(its offline incident says enough).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from maskwatch.alerts_config import HealthConfig
from maskwatch.status import CameraStatusRecord
from maskwatch.storage.prune import GB

CLOSE_AFTER_S = 5.0
SITE = "(site)"  # the camera id of an incident of the whole site: no camera id has brackets
DISK_CLEAR = 1.05  # a disk incident closes once free space is this much above the warning: no flapping


def incident_id(camera: str, kind: str, started_at: float) -> str:
    return hashlib.sha1(f"{camera}|{kind}|{round(started_at, 3)}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Change:
    camera: str
    kind: str
    opened: bool            # True: the incident starts; False: it ends
    incident_id: str
    started_at: float
    at: float               # when it opened (its start) or closed
    detail: str


@dataclass
class _Open:
    incident_id: str
    started_at: float
    clear_since: float | None = None


@dataclass
class CameraHealth:
    camera: str
    cfg: HealthConfig
    stale_s: float                       # a status this old means ingest is not reporting: offline
    since: dict[str, float] = field(default_factory=dict)   # condition -> when it began holding
    open: dict[str, _Open] = field(default_factory=dict)

    def conditions(self, rec: CameraStatusRecord, now: float) -> dict[str, str]:
        """The conditions that hold now, each with its detail."""
        if not rec.fresh(now, self.stale_s):
            return {"offline": "ingest is not reporting this camera"}
        if not rec.online:
            return {"offline": f"{rec.state}: {rec.last_error}" if rec.last_error else rec.state}
        out, c = {}, self.cfg
        if rec.picture_changed_at and now - rec.picture_changed_at >= 0:
            if now - rec.picture_changed_at >= c.frozen_s:
                out["frozen"] = f"the same picture since {now - rec.picture_changed_at:.0f} s"
        if 0 <= rec.contrast <= c.flat_contrast:
            if rec.brightness <= c.dark_level:
                out["dark"] = f"black picture (brightness {rec.brightness:.0f})"
            elif rec.brightness >= c.bright_level:
                out["saturated"] = f"white picture (brightness {rec.brightness:.0f})"
        if "dark" in out or "saturated" in out:
            out.pop("frozen", None)  # a flat picture has nothing to change: black says more than frozen
        if c.slow_fraction > 0 and rec.fps_cap > 0 and rec.fps_read < c.slow_fraction * rec.fps_cap:
            out["slow"] = f"{rec.fps_read:.1f} frames/s read, below {c.slow_fraction * rec.fps_cap:.1f}"
        return out

    def threshold(self, kind: str) -> float:
        c = self.cfg
        return {"offline": c.offline_s, "frozen": 0.0, "dark": c.dark_s, "saturated": c.dark_s,
                "slow": c.slow_s}[kind]

    def observe(self, rec: CameraStatusRecord, now: float) -> list[Change]:
        held = self.conditions(rec, now)
        changes: list[Change] = []
        for kind, detail in held.items():
            begun = self.since.setdefault(kind, rec.picture_changed_at if kind == "frozen" else now)
            inc = self.open.get(kind)
            if inc is not None:
                inc.clear_since = None
            elif now - begun >= self.threshold(kind):
                inc = self.open[kind] = _Open(incident_id(self.camera, kind, begun), begun)
                changes.append(Change(self.camera, kind, True, inc.incident_id, begun, begun, detail))
        for kind in list(self.since):
            if kind not in held:
                del self.since[kind]
        for kind, inc in list(self.open.items()):
            if kind in held:
                continue
            inc.clear_since = inc.clear_since or now
            if now - inc.clear_since >= CLOSE_AFTER_S:
                del self.open[kind]
                changes.append(Change(self.camera, kind, False, inc.incident_id, inc.started_at, inc.clear_since, ""))
        return changes

    def resume(self, kind: str, incident_id_: str, started_at: float) -> None:
        """An incident left open by a previous run: it closes when its condition is gone."""
        self.open[kind] = _Open(incident_id_, started_at)
        self.since.setdefault(kind, started_at)


@dataclass
class DiskHealth:
    """A "disk" incident while the snapshot disk has less than `warn_bytes` free: a warning before
    retention.min_free_gb makes retention delete violations whatever their age."""
    warn_bytes: int
    open: _Open | None = None

    def resume(self, incident_id: str, started_at: float) -> None:
        self.open = _Open(incident_id, started_at)

    def observe(self, free: int, now: float) -> Change | None:
        detail = f"{free / GB:.2f} GB free on the snapshot disk (warning below {self.warn_bytes / GB:g} GB)"
        if free < self.warn_bytes and self.open is None:
            self.open = _Open(incident_id(SITE, "disk", now), now)
            return Change(SITE, "disk", True, self.open.incident_id, now, now, detail)
        if self.open is not None and free >= self.warn_bytes * DISK_CLEAR:
            done, self.open = self.open, None
            return Change(SITE, "disk", False, done.incident_id, done.started_at, now, detail)
        return None
