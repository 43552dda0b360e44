"""`maskwatch ingest / worker / events / db`: the pipeline's long-running services.

Each builds its service from the one validated config, installs the two-stage signal handlers
(first SIGTERM: finish and stop; second: stop now) and runs until stopped.
"""
from __future__ import annotations

import logging
import threading

from maskwatch.config import Config, ConfigError
from maskwatch.redact import redact_url
from maskwatch.service import install_signal_handlers

log = logging.getLogger("maskwatch")


def redis_bus(cfg: Config, command: str):
    from maskwatch.bus import RedisBus

    if not cfg.redis.url:
        raise ConfigError(f"redis.url: `maskwatch {command}` runs as a separate service and needs Redis; "
                          "for a single machine without Redis use `maskwatch run`")
    bus = RedisBus(cfg.redis.url, cfg.redis.prefix)
    try:
        bus.ping()
    except Exception as e:  # the redis client's errors carry no credentials, but the URL might
        raise ConfigError(f"redis.url: cannot reach {redact_url(cfg.redis.url)}: {type(e).__name__}") from None
    return bus


def _serve(name: str, build) -> int:
    stop = threading.Event()
    install_signal_handlers(stop, name)
    service = build(stop)
    service.run()
    return 0


def cmd_ingest(args, cfg: Config) -> int:
    from maskwatch.services import build_ingest

    known = {c.id for c in cfg.cameras}
    unknown = [c for c in args.camera or [] if c not in known]
    if unknown:
        raise ConfigError(f"--camera: no camera {', '.join(unknown)} in the config")
    bus = redis_bus(cfg, "ingest")
    return _serve("ingest", lambda stop: build_ingest(cfg, bus, stop, args.camera or None))


def cmd_worker(args, cfg: Config) -> int:
    from maskwatch.services import build_worker

    bus = redis_bus(cfg, "worker")
    return _serve("worker", lambda stop: build_worker(cfg, bus, stop, args.name))


def cmd_events(args, cfg: Config) -> int:
    from maskwatch.services import build_events

    bus = redis_bus(cfg, "events")
    return _serve("events", lambda stop: build_events(cfg, bus, stop))


def cmd_db(args, cfg: Config) -> int:
    from maskwatch.storage.db import upgrade

    upgrade(cfg.database.url)
    print(f"database {redact_url(cfg.database.url)}: schema up to date")
    return 0
