"""Building the pipeline services from the validated config: used by the CLI, `run` and `bench`.

Each builder takes the config and a stop event and returns an object with `run()`; heavy modules
(models, OpenCV readers) are imported only by the builders that need them.
"""
from __future__ import annotations

import threading

from maskwatch.config import Config
from maskwatch.service import instance_name


def build_ingest(cfg: Config, bus, stop: threading.Event, cameras: list[str] | None = None):
    from maskwatch.ingest.service import IngestService

    return IngestService(cfg, bus, stop, cameras)


def build_worker_pipeline(cfg: Config):
    """The detector and classifier a worker runs, as the config sets them."""
    from maskwatch.models.build import build_pipeline

    classifier = cfg.classifier
    if cfg.worker.threads and not classifier.threads:
        classifier = classifier.model_copy(update={"threads": cfg.worker.threads})
    return build_pipeline(cfg.detector, classifier, threads=cfg.worker.threads)


def build_worker(cfg: Config, bus, stop: threading.Event, name: str | None = None, pipeline=None):
    """`pipeline`: one built by build_worker_pipeline(cfg) for an earlier worker of the same config
    (evaluate --clips plays its clip groups one after another with one model load)."""
    from maskwatch.models.build import model_version
    from maskwatch.workers.loading import LoadingHeartbeat
    from maskwatch.workers.worker import Worker

    name = name or instance_name("worker")
    if pipeline is None:
        with LoadingHeartbeat(bus, name):  # a TensorRT engine build can take minutes: say so meanwhile
            pipeline = build_worker_pipeline(cfg)
    return Worker(cfg, bus, pipeline, stop, name, model_version(cfg.classifier))


def build_events(cfg: Config, bus, stop: threading.Event, name: str = "events", shard=None):
    from maskwatch.storage.db import make_engine, session_factory
    from maskwatch.storage.snapshots import SnapshotStore

    engine = make_engine(cfg.database.url, cfg.database.echo)
    return events_service(cfg, bus, session_factory(engine), SnapshotStore(cfg.snapshots.dir), stop, name, shard)


def events_service(cfg: Config, bus, sessions, snapshots, stop: threading.Event, name: str = "events", shard=None):
    """An events shard with its alerts wired: the outbox writer when a sink asks for violations, and
    the site's one alerts loop (camera health, delivery) on shard 0."""
    from maskwatch.shards import Shard
    from maskwatch.workers.alerts.service import AlertsService
    from maskwatch.workers.alerts.writer import AlertWriter
    from maskwatch.workers.events import EventsService

    shard = shard or Shard(0, cfg.events.shards)
    writer = AlertWriter(cfg)
    alerts = AlertsService(cfg, bus, sessions, stop, snapshots) if shard.index == 0 else None
    return EventsService(cfg, bus, sessions, snapshots, stop, name, shard,
                         writer=writer if writer else None, alerts=alerts)
