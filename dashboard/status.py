"""Pipeline status from the bus: the status hashes of ingest, workers and events, and stream sizes.

Read on demand by the cameras page, /api/cameras and /metrics. A bus that fails (Redis down) gives a
PipelineStatus with available=False instead of an exception: those pages must still answer.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from maskwatch.config import Config
from maskwatch.dashboard.state import scan_keys
from maskwatch.errors import BusError
from maskwatch.redact import redact_text, redact_url
from maskwatch.status import CameraStatusRecord, EventsStatusRecord, WorkerStatusRecord

log = logging.getLogger(__name__)
WORKER_GROUP = "workers"   # consumer group on frames:<cam> (workers/worker.py GROUP)
EVENTS_GROUP = "events"    # consumer group on detections
STAGES = ("decode", "detect", "classify", "latency")
LAGGING_S = 5.0    # a camera whose newest processed frame is older than this is shown as behind
STALLED_S = 30.0   # ... and older than this as not processed at all


@dataclass
class CameraStatus:
    id: str
    name: str
    state: str = "unknown"      # ingest's state, or "unknown" without a status hash, "stale" when old
    online: bool = False
    url: str = ""
    fps_read: float = 0.0
    fps_sent: float = 0.0
    fps_cap: float = 0.0
    fps_processed: float = 0.0
    frames_read: int = 0
    frames_sent: int = 0
    frames_processed: int = 0
    frames_dropped: int = 0
    reconnects: int = 0
    last_error: str = ""
    last_frame_at: float | None = None
    next_retry_at: float | None = None
    width: int = 0
    height: int = 0
    updated_at: float | None = None
    stream_length: int = 0
    pending: int = 0
    frames_still: int = 0        # frames no detection was needed for (nothing changed: ingest.motion)
    frames_regions: int = 0      # frames detected only where they changed
    lag_s: float | None = None   # now minus the capture time of its newest processed frame
    problem: str = ""            # what is wrong, in an operator's words; "" when nothing is


@dataclass
class WorkerStatus:
    name: str
    state: str
    processed: int
    dropped_stale: int
    bad_frames: int
    faces: int
    batches: int
    stage_ms: dict[str, float]
    model_version: str
    backend: str
    updated_at: float | None
    per_camera: dict[str, tuple[int, int]] = field(default_factory=dict)  # cam -> (processed, dropped)
    frame_ts: dict[str, float] = field(default_factory=dict)  # cam -> capture time of its newest frame done
    gated: dict[str, tuple[int, int]] = field(default_factory=dict)  # cam -> (still frames, region frames)


@dataclass
class PipelineStatus:
    available: bool
    cameras: list[CameraStatus] = field(default_factory=list)
    workers: list[WorkerStatus] = field(default_factory=list)
    events: dict[str, Any] = field(default_factory=dict)
    detections_length: int = 0
    detections_pending: int = 0
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _camera(cfg_cam, h: dict[str, str], now: float, stale_s: float) -> CameraStatus:
    cs = CameraStatus(id=cfg_cam.id, name=cfg_cam.label)
    if not h:
        return cs
    rec = CameraStatusRecord.from_hash(h)
    fresh = rec.fresh(now, stale_s)
    cs.state = rec.state if fresh else "stale"
    cs.online = fresh and rec.online
    # ingest redacts already; done again because this text ends up in pages and JSON
    cs.url = redact_url(rec.url)
    cs.last_error = redact_text(rec.last_error)[:500]
    cs.fps_read, cs.fps_sent = (rec.fps_read, rec.fps_sent) if cs.online else (0.0, 0.0)
    cs.fps_cap, cs.frames_read, cs.frames_sent, cs.reconnects = rec.fps_cap, rec.frames_read, rec.frames_sent, \
        rec.reconnects
    cs.width, cs.height = rec.width, rec.height
    cs.last_frame_at = rec.last_frame_at or None
    cs.next_retry_at = rec.next_retry_at or None
    cs.updated_at = rec.updated_at or None
    return cs


def _worker(name: str, h: dict[str, str]) -> WorkerStatus:
    rec = WorkerStatusRecord.from_hash(h)
    cams = rec.per_camera
    return WorkerStatus(
        name=name, state=rec.state, processed=rec.counts.get("processed", 0),
        dropped_stale=rec.counts.get("dropped_stale", 0), bad_frames=rec.counts.get("bad_frames", 0),
        faces=rec.counts.get("faces", 0), batches=rec.counts.get("batches", 0),
        stage_ms={s: rec.stage_ms[s] for s in STAGES if s in rec.stage_ms}, model_version=rec.model_version,
        backend=" + ".join(b for b in (rec.detector_backend, rec.backend) if b), updated_at=rec.updated_at or None,
        per_camera={cam: (int(k.get("processed", 0)), int(k.get("dropped", 0))) for cam, k in cams.items()
                    if "processed" in k or "dropped" in k},
        frame_ts={cam: k["frame_ts"] for cam, k in cams.items() if "frame_ts" in k},
        gated={cam: (int(k.get("still", 0)), int(k.get("regions", 0))) for cam, k in cams.items()
               if "still" in k or "regions" in k})


def _workers(bus) -> list[WorkerStatus]:
    prefix = bus.keys.worker_status("")
    return [_worker(key[len(prefix):], bus.get_hash(key)) for key in scan_keys(bus, prefix + "*")]


def _events(h: dict[str, str]) -> dict[str, Any]:
    rec = EventsStatusRecord.from_hash(h)
    out: dict[str, Any] = {k: getattr(rec, k) for k in ("processed", "violations", "bad_entries", "pending")}
    out["lag_s"] = rec.lag_s
    out["db_ok"] = h.get("db_ok", "") in ("1", "true", "True")
    out["problem"] = redact_text(rec.problem)[:200]
    out["updated_at"] = rec.updated_at or None
    out["present"] = bool(h)
    return out


def _merge_events(shards: list[dict[str, Any]]) -> dict[str, Any]:
    """One view of every events shard: counts add up, the worst lag and any outage show."""
    present = [s for s in shards if s["present"]]
    if not present:
        return dict(shards[0] if shards else _events({}), shards_reporting=0, shards=len(shards))
    out: dict[str, Any] = {k: sum(s[k] for s in present) for k in ("processed", "violations", "bad_entries",
                                                                   "pending")}
    out["lag_s"] = max(s["lag_s"] for s in present)
    out["db_ok"] = all(s["db_ok"] for s in present)
    out["problem"] = "; ".join(sorted({s["problem"] for s in present if s["problem"]}))
    out["updated_at"] = min(s["updated_at"] or 0 for s in present) or None
    out["present"] = True
    out["shards_reporting"], out["shards"] = len(present), len(shards)  # a silent shard shows
    return out


def read_events(config: Config, bus) -> dict[str, Any]:
    """Every events shard's status hash, merged: what /healthz needs, without the cameras."""
    return _merge_events([_events(bus.get_hash(bus.keys.events_status(k))) for k in range(config.events.shards)])


def _problem(cs: CameraStatus, workers_running: bool) -> str:
    """The one line an operator needs: why this camera's picture is missing or late."""
    if cs.state == "stale":
        return "ingest is not reporting (stopped, or cannot reach Redis)"
    if cs.state == "unknown":
        return "ingest has not reported this camera yet"
    if not cs.online:
        return f"{cs.state}: {cs.last_error}" if cs.last_error else cs.state
    if not workers_running:
        return "no worker is running: nothing is being checked"
    if cs.lag_s is None or cs.lag_s > STALLED_S:
        return "no frame processed recently: the workers are stalled or overloaded"
    if cs.lag_s > LAGGING_S:
        return (f"the workers are {cs.lag_s:.0f} s behind ({cs.stream_length} frames queued): add workers or "
                f"lower this camera's fps")
    return ""


def _collect(config: Config, bus, now: float) -> PipelineStatus:
    stale_s = max(10.0, 5 * config.ingest.status_interval_s)
    st = PipelineStatus(available=True, workers=_workers(bus))
    running = any(w.state == "running" for w in st.workers)
    for cam in config.cameras:
        cs = _camera(cam, bus.get_hash(bus.keys.camera_status(cam.id)), now, stale_s)
        cs.frames_processed = sum(w.per_camera.get(cam.id, (0, 0))[0] for w in st.workers)
        cs.frames_dropped = sum(w.per_camera.get(cam.id, (0, 0))[1] for w in st.workers)
        cs.frames_still = sum(w.gated.get(cam.id, (0, 0))[0] for w in st.workers)
        cs.frames_regions = sum(w.gated.get(cam.id, (0, 0))[1] for w in st.workers)
        cs.stream_length = bus.length(bus.keys.frames(cam.id))
        cs.pending = bus.pending_count(bus.keys.frames(cam.id), WORKER_GROUP)
        if cs.online and cs.frames_sent:
            # workers report totals only; the share of sent frames processed scales the send rate
            cs.fps_processed = round(cs.fps_sent * min(1.0, cs.frames_processed / cs.frames_sent), 2)
        newest = max((w.frame_ts.get(cam.id, 0.0) for w in st.workers), default=0.0)
        # ingest's clock stamped the frame: a host a little ahead must not show a negative lag
        cs.lag_s = round(max(0.0, now - newest), 1) if newest else None
        cs.problem = _problem(cs, running)
        st.cameras.append(cs)
    shards = range(config.events.shards)
    st.events = read_events(config, bus)
    st.detections_length = sum(bus.length(bus.keys.detections(k)) for k in shards)
    st.detections_pending = sum(bus.pending_count(bus.keys.detections(k), EVENTS_GROUP) for k in shards)
    return st


def read_status(config: Config, bus, now: float | None = None) -> PipelineStatus:
    """Everything the bus knows about the pipeline; available=False when it cannot be read."""
    if bus is None:
        return _unavailable(config, "no bus configured (redis.url)")
    try:
        return _collect(config, bus, time.time() if now is None else now)
    except (BusError, OSError) as e:  # Redis down or timing out: the caller shows "status unavailable"
        log.warning("status: cannot read the bus: %s", type(e).__name__)
        return _unavailable(config, "status unavailable: the bus cannot be reached")


def _unavailable(config: Config, error: str) -> PipelineStatus:
    return PipelineStatus(available=False, error=error,
                          cameras=[CameraStatus(c.id, c.label, problem=error) for c in config.cameras])
