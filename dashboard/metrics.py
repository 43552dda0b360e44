"""Prometheus metrics, computed at scrape time from the bus's status hashes and one SQL count.

A custom collector on a CollectorRegistry owned by the app (no global registry), so several apps
in one process (tests, `maskwatch run`) never clash, and every gunicorn worker answers the same.

Inference latency is exported as GAUGES, not a histogram: workers publish per-stage running
averages (decode/detect/classify/end-to-end latency, ms per frame since the worker started), not
individual samples, so `maskwatch_worker_stage_ms{worker,stage}` reports those averages as they are.
Counters (`*_total`) are the producers' own totals and restart at zero with the producer.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from maskwatch.config import Config
from maskwatch.dashboard.status import EVENTS_GROUP, WORKER_GROUP, PipelineStatus, read_status
from maskwatch.dashboard.storage import StorageStatus, read_storage
from maskwatch.storage import outbox
from maskwatch.storage.queries import status_counts

log = logging.getLogger(__name__)


def _camera_metrics(st: PipelineStatus) -> Iterator[Metric]:
    specs = [
        ("frames_read", "maskwatch_camera_frames_read", "frames read from the camera", CounterMetricFamily),
        ("frames_sent", "maskwatch_camera_frames_sent", "frames sent to the workers", CounterMetricFamily),
        ("frames_processed", "maskwatch_camera_frames_processed", "frames processed by workers",
         CounterMetricFamily),
        ("frames_dropped", "maskwatch_camera_frames_dropped", "frames workers skipped as stale",
         CounterMetricFamily),
        ("reconnects", "maskwatch_camera_reconnects", "camera reconnections", CounterMetricFamily),
        ("frames_still", "maskwatch_camera_frames_still", "frames not detected: nothing changed (ingest.motion)",
         CounterMetricFamily),
        ("frames_regions", "maskwatch_camera_frames_regions", "frames detected only where they changed",
         CounterMetricFamily),
        ("fps_read", "maskwatch_camera_fps_read", "frames per second read", GaugeMetricFamily),
        ("fps_sent", "maskwatch_camera_fps_sent", "frames per second sent", GaugeMetricFamily),
        ("online", "maskwatch_camera_online", "1 when the camera delivers frames", GaugeMetricFamily),
        ("stream_length", "maskwatch_stream_frames_length", "entries in the camera's frame stream",
         GaugeMetricFamily),
        ("pending", "maskwatch_stream_frames_pending", f"frames delivered to group {WORKER_GROUP!r}, not acked",
         GaugeMetricFamily),
    ]
    for attr, name, doc, kind in specs:
        fam = kind(name, doc, labels=["camera"])
        for cam in st.cameras:
            fam.add_metric([cam.id], float(getattr(cam, attr)))
        yield fam
    lag = GaugeMetricFamily("maskwatch_camera_lag_seconds", "age of the newest frame a worker finished "
                            "(absent while none has been)", labels=["camera"])
    for cam in st.cameras:
        if cam.lag_s is not None:
            lag.add_metric([cam.id], cam.lag_s)
    yield lag


def _worker_metrics(st: PipelineStatus) -> Iterator[Metric]:
    processed = CounterMetricFamily("maskwatch_worker_frames_processed", "frames processed", labels=["worker"])
    dropped = CounterMetricFamily("maskwatch_worker_frames_dropped", "stale frames skipped", labels=["worker"])
    faces = CounterMetricFamily("maskwatch_worker_faces", "faces classified", labels=["worker"])
    bad = CounterMetricFamily("maskwatch_worker_bad_frames", "undecodable frames", labels=["worker"])
    stage = GaugeMetricFamily("maskwatch_worker_stage_ms", "average milliseconds per frame and stage "
                              "(latency = capture to detections published)", labels=["worker", "stage"])
    for w in st.workers:
        processed.add_metric([w.name], w.processed)
        dropped.add_metric([w.name], w.dropped_stale)
        faces.add_metric([w.name], w.faces)
        bad.add_metric([w.name], w.bad_frames)
        for name, ms in w.stage_ms.items():
            stage.add_metric([w.name, name], ms)
    yield from (processed, dropped, faces, bad, stage)


def _events_metrics(st: PipelineStatus) -> Iterator[Metric]:
    ev = st.events
    yield GaugeMetricFamily("maskwatch_stream_detections_length", "entries in the detections stream",
                            value=st.detections_length)
    yield GaugeMetricFamily("maskwatch_stream_detections_pending",
                            f"detections delivered to group {EVENTS_GROUP!r}, not acked", value=st.detections_pending)
    if ev.get("present"):
        yield GaugeMetricFamily("maskwatch_events_lag_seconds",
                                "age of the oldest detection events has not settled (its backlog)",
                                value=ev["lag_s"])
        yield CounterMetricFamily("maskwatch_events_processed", "detections processed by events",
                                  value=ev["processed"])
        yield CounterMetricFamily("maskwatch_events_bad_entries", "unreadable detections", value=ev["bad_entries"])
        yield GaugeMetricFamily("maskwatch_events_db_ok", "1 when events can write the database",
                                value=1.0 if ev["db_ok"] else 0.0)
        yield GaugeMetricFamily("maskwatch_events_ok", "1 when events reports no problem (database, snapshots)",
                                value=0.0 if ev.get("problem") else 1.0)
        yield GaugeMetricFamily("maskwatch_events_shards_reporting", "events shards with a fresh status",
                                value=ev.get("shards_reporting", 1))


def _alert_metrics(sinks: dict, open_incidents: list) -> Iterator[Metric]:
    specs = (("pending", "maskwatch_alerts_waiting", "alerts not delivered yet"),
             ("failing", "maskwatch_alerts_failing", "alerts not delivered, tried at least once"),
             ("delivered", "maskwatch_alerts_delivered", "alerts delivered (kept alerts.keep_days)"))
    for attr, name, doc in specs:
        fam = GaugeMetricFamily(name, doc, labels=["sink"])
        for sink in sinks.values():
            fam.add_metric([sink.sink], getattr(sink, attr))
        yield fam
    fam = GaugeMetricFamily("maskwatch_incidents_open", "camera-health incidents open now", labels=["camera", "kind"])
    for i in open_incidents:
        fam.add_metric([i.camera_id, i.kind], 1)
    yield fam


def _storage_metrics(storage: StorageStatus) -> Iterator[Metric]:
    if storage.disk_free_bytes is not None:
        yield GaugeMetricFamily("maskwatch_snapshot_disk_free_bytes", "free bytes on the snapshot folder's disk",
                                value=storage.disk_free_bytes)
        yield GaugeMetricFamily("maskwatch_snapshot_disk_size_bytes", "size of the snapshot folder's disk",
                                value=storage.disk_total_bytes)
    r = storage.retention
    if r is not None:
        yield GaugeMetricFamily("maskwatch_snapshot_bytes", "bytes in the snapshot folder at the last retention run",
                                value=r.folder_bytes)
        pruned = CounterMetricFamily("maskwatch_retention_pruned", "violations deleted by retention",
                                     labels=["reason"])
        pruned.add_metric(["age"], r.by_age_total)
        pruned.add_metric(["space"], r.for_space_total)
        yield pruned


class PipelineCollector:
    def __init__(self, config: Callable[[], Config], sessions: sessionmaker[Session], bus, snapshot_root=None):
        """`config`: the app's config now (its cameras follow the site's at runtime)."""
        self.config_of, self.sessions, self.bus, self.snapshot_root = config, sessions, bus, snapshot_root

    @property
    def config(self) -> Config:
        return self.config_of()

    def _violations(self) -> Iterator[Metric]:
        try:
            with self.sessions() as s:
                counts = status_counts(s)
                sinks, open_incidents = outbox.sink_states(s), outbox.open_incidents(s)
        except SQLAlchemyError as e:  # the database down must not turn /metrics into a 500
            log.warning("metrics: cannot count violations: %s", type(e).__name__)
            yield GaugeMetricFamily("maskwatch_db_up", "1 when the dashboard can query the database", value=0)
            return
        yield GaugeMetricFamily("maskwatch_db_up", "1 when the dashboard can query the database", value=1)
        fam = GaugeMetricFamily("maskwatch_violations_stored", "violations in the database (after retention)",
                                labels=["review_status"])
        for status, n in counts.items():
            fam.add_metric([status], n)
        yield fam
        yield from _alert_metrics(sinks, open_incidents)

    def collect(self) -> Iterator[Metric]:
        st = read_status(self.config, self.bus)
        yield GaugeMetricFamily("maskwatch_bus_up", "1 when the dashboard can read the bus",
                                value=1.0 if st.available else 0.0)
        if st.available:
            yield from _camera_metrics(st)
            yield from _worker_metrics(st)
            yield from _events_metrics(st)
        if self.snapshot_root is not None:
            yield from _storage_metrics(read_storage(self.config, self.bus if st.available else None,
                                                     self.snapshot_root))
        yield from self._violations()


def make_registry(config: Callable[[], Config], sessions: sessionmaker[Session], bus,
                  snapshot_root=None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector(config, sessions, bus, snapshot_root))
    return registry
