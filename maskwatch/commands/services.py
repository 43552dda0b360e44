"""`maskwatch ingest / worker / events / db`: the pipeline's long-running services.

Each builds its service from the one validated config, installs the two-stage signal handlers
(first SIGTERM: finish and stop; second: stop now) and runs until stopped.
"""
from __future__ import annotations

import logging
import threading

from maskwatch.config import Config, ConfigError
from maskwatch.redact import redact_db_url, redact_url
from maskwatch.service import install_signal_handlers

log = logging.getLogger("maskwatch")


def redis_bus(cfg: Config, command: str):
    """The site's bus; for ingest and workers with redis.frames_url, frame streams on that server."""
    from maskwatch.bus import RedisBus

    if not cfg.redis.url:
        raise ConfigError(f"redis.url: `maskwatch {command}` runs as a separate service and needs Redis; "
                          "for a single machine without Redis use `maskwatch run`")
    bus = _reached("redis.url", RedisBus(cfg.redis.url, cfg.redis.prefix), cfg.redis.url)
    frames_url = cfg.redis.frames_url
    if command in ("ingest", "worker") and frames_url and frames_url != cfg.redis.url:
        from maskwatch.splitbus import SplitBus

        return SplitBus(bus, _reached("redis.frames_url", RedisBus(frames_url, cfg.redis.prefix), frames_url))
    return bus


def _reached(field: str, bus, url: str):
    try:
        bus.ping()
    except Exception as e:  # the redis client's errors carry no credentials, but the URL might
        raise ConfigError(f"{field}: cannot reach {redact_url(url)}: {type(e).__name__}") from None
    return bus


def _serve(name: str, build) -> int:
    stop = threading.Event()
    install_signal_handlers(stop, name)
    service = build(stop)
    service.run()
    return 0


def cmd_ingest(args, cfg: Config) -> int:
    from maskwatch.builders import build_ingest

    known = {c.id for c in cfg.cameras}
    unknown = [c for c in args.camera or [] if c not in known]
    if unknown:
        raise ConfigError(f"--camera: no camera {', '.join(unknown)} in the config")
    bus = redis_bus(cfg, "ingest")
    return _serve("ingest", lambda stop: build_ingest(cfg, bus, stop, args.camera or None))


def cmd_worker(args, cfg: Config) -> int:
    from maskwatch.builders import build_worker

    bus = redis_bus(cfg, "worker")
    return _serve("worker", lambda stop: build_worker(cfg, bus, stop, args.name))


def cmd_db(args, cfg: Config) -> int:
    import os

    from maskwatch.storage.db import upgrade, wait_for_schema
    from maskwatch.storage.users import ensure_first_admin

    if args.action == "wait":
        head = wait_for_schema(cfg.database.url, args.timeout)
        print(f"database {redact_db_url(cfg.database.url)}: schema at {head}, ready")
        return 0
    upgrade(cfg.database.url)
    print(f"database {redact_db_url(cfg.database.url)}: schema up to date")
    password = ensure_first_admin(_sessions(cfg), os.environ)
    if password:
        print(f"first admin user created: {os.environ.get('MASKWATCH_ADMIN_USER') or 'admin'} "
              f"password {password} (shown once; change it after logging in)")
    return 0


def _sessions(cfg: Config):
    from maskwatch.storage.db import make_engine, session_factory

    return session_factory(make_engine(cfg.database.url, cfg.database.echo))


def cmd_events(args, cfg: Config) -> int:
    """The events service, plus the scheduled retention run beside it."""
    from maskwatch.builders import build_events
    from maskwatch.shards import Shard
    from maskwatch.storage.prune import prune_forever
    from maskwatch.storage.retention import report_retention
    from maskwatch.storage.snapshots import SnapshotStore

    shard = Shard.parse(args.shard, cfg.events.shards) if args.shard else Shard(0, cfg.events.shards)
    if shard.count > 1 and not args.shard:
        raise ConfigError(f"events.shards is {shard.count}: start each events process with --shard K/{shard.count}")
    bus = redis_bus(cfg, "events")

    def build(stop):
        if shard.index == 0:  # one pruner per site is enough
            threading.Thread(target=prune_forever, name="prune", daemon=True,
                             args=(_sessions(cfg), SnapshotStore(cfg.snapshots.dir), cfg.retention, stop,
                                   lambda pruned: report_retention(bus, pruned))).start()
        return build_events(cfg, bus, stop, name=f"events-{shard.index}", shard=shard)

    return _serve("events", build)


def cmd_dashboard(args, cfg: Config) -> int:
    from maskwatch.dashboard.serve import serve

    serve(cfg)
    return 0


def cmd_users(args, cfg: Config) -> int:
    import sys

    from maskwatch.commands.run import DEMO_DATABASE
    from maskwatch.storage.users import UserError, add_user

    if args.demo:
        cfg = cfg.model_copy(update={"database": cfg.database.model_copy(update={"url": f"sqlite:///{DEMO_DATABASE}"})})
    _require_schema(cfg)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif not sys.stdin.isatty():
        raise ConfigError("no terminal to ask for the password on: pipe it in with --password-stdin")
    else:
        import getpass

        password = getpass.getpass(f"password for {args.name}: ")
    try:
        user = add_user(_sessions(cfg), args.name, args.role, password)
    except UserError as e:
        raise ConfigError(str(e)) from None
    print(f"user {user.username}: created ({user.role.value})")
    return 0


def _require_schema(cfg: Config) -> None:
    """A database that exists and has this version's schema: never create an empty one silently."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from maskwatch.commands.run import DEMO_DATABASE
    from maskwatch.storage.db import wait_for_schema

    url = make_url(cfg.database.url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).is_file():
        raise ConfigError(f"database {redact_db_url(cfg.database.url)}: no such file (the demo's is {DEMO_DATABASE}: "
                          "add --demo; a site's is in its config: -c FILE)")
    wait_for_schema(cfg.database.url, timeout_s=0)  # SchemaNotReady, at once, saying what is wrong


def cmd_prune(args, cfg: Config) -> int:
    from maskwatch.storage.prune import prune, prune_space
    from maskwatch.storage.snapshots import SnapshotStore

    days = args.days if args.days is not None else cfg.retention.days
    sessions, store = _sessions(cfg), SnapshotStore(cfg.snapshots.dir)
    n = prune(sessions, store, days, confirmed_days=max(days, cfg.retention.confirmed_days or days))
    print(f"pruned {n} violations older than {days:g} days")
    more = prune_space(sessions, store, cfg.retention.max_gb, cfg.retention.min_free_gb)
    if more:
        print(f"pruned {more} more, the oldest, for space (retention.max_gb, retention.min_free_gb)")
    return 0
