"""`maskwatch run`: ingest, workers, events and the dashboard in one process on one machine.

Without redis.url the services talk over the in-process bus; with it, over Redis exactly as the
separate services do. `--demo` adds a camera that plays a clip built from the bundled CC0 scenes,
stores everything under out/demo/, and prints the dashboard URL.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from maskwatch.config import Config
from maskwatch.paths import demo_scenes
from maskwatch.service import install_signal_handlers

log = logging.getLogger("maskwatch")
# photos with both masked and unmasked people, faces large enough to read on a 960x540 canvas
DEMO_DATABASE = "out/demo/maskwatch.db"  # under run --demo's default --out; `users add --demo` opens it
DEMO_PHOTOS = ("maksssksksss114.jpg", "maksssksksss327.jpg", "maksssksksss148.jpg", "maksssksksss459.jpg")


def demo_config(cfg: Config, out: Path) -> Config:
    """The config with a demo camera and local storage under `out` (kept if already set by a file)."""
    from maskwatch.models.evaluation.democlip import build_clip

    clip = out / "demo.avi"
    if not clip.is_file():
        build_clip([demo_scenes() / "images" / p for p in DEMO_PHOTOS], clip)
    data = cfg.model_dump()
    raw = cfg.raw_cameras  # what seeds the cameras table: the file's entries, placeholders kept
    if not data["cameras"]:
        data["cameras"] = raw = [{"id": "demo", "name": "Demo clip (CC0 scenes)", "url": str(clip), "fps": 5}]
    defaults = Config()
    if data["database"]["url"] == defaults.database.url:
        data["database"]["url"] = f"sqlite:///{out / 'maskwatch.db'}"
    if data["snapshots"]["dir"] == defaults.snapshots.dir:
        data["snapshots"]["dir"] = out / "snapshots"
    out_cfg = Config.model_validate(data)
    out_cfg._raw_cameras = raw
    return out_cfg


def _start(name: str, service) -> threading.Thread:
    t = threading.Thread(target=service.run, name=name, daemon=True)
    t.start()
    return t


def start_pipeline(cfg: Config, bus, stop: threading.Event, workers: int = 1,
                   pipeline=None) -> list[threading.Thread]:
    """Workers, every events shard and ingest as threads over `bus`: the `run` path, shared with
    `maskwatch evaluate --clips` (which hands its one worker a `pipeline` already built for cfg)."""
    from maskwatch.builders import build_events, build_ingest, build_worker
    from maskwatch.shards import Shard

    # consumers first, so their groups exist before the first frame is published
    threads = [_start(f"worker-{i}", build_worker(cfg, bus, stop, f"run-worker-{i}", pipeline if i == 0 else None))
               for i in range(workers)]
    n = cfg.events.shards
    threads += [_start(f"events-{k}", build_events(cfg, bus, stop, f"events-{k}", Shard(k, n))) for k in range(n)]
    time.sleep(0.2)
    threads.append(_start("ingest", build_ingest(cfg, bus, stop)))
    return threads


def cmd_run(args, cfg: Config) -> int:
    from maskwatch.membus import make_bus
    from maskwatch.storage.db import upgrade

    if args.demo:
        cfg = demo_config(cfg, args.out)
    if args.host is not None or args.port is not None:
        listen = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
        cfg = cfg.model_copy(update={"dashboard": cfg.dashboard.model_copy(update=listen)})
    bus = make_bus(cfg.redis.url, cfg.redis.prefix, cfg.redis.frames_url)
    upgrade(cfg.database.url)
    stop = threading.Event()
    install_signal_handlers(stop, "run")
    threads = start_pipeline(cfg, bus, stop, args.workers)
    dashboard, banner = _dashboard(cfg, bus) if not args.no_dashboard else (None, [])
    log.info("run: %d cameras, %d workers, %s bus", len(cfg.cameras), args.workers,
             "redis" if cfg.redis.url else "in-process")
    if banner:  # last, after every start-up line, where it can be seen
        rule = "=" * max(len(line) for line in banner)
        print("\n".join(["", rule, *banner, rule, ""]), flush=True)
    deadline = time.monotonic() + args.duration if args.duration else None
    rc = 0
    while not stop.wait(0.5):
        dead = [t.name for t in threads if not t.is_alive()]
        if dead:  # a service died (its error is logged): do not serve a dashboard over a dead pipeline
            log.error("run: %s stopped unexpectedly, shutting down", ", ".join(dead))
            stop.set()
            rc = 1
        if deadline and time.monotonic() > deadline:
            stop.set()
    for t in threads:
        t.join(20)
    if dashboard:
        dashboard.shutdown()
    return rc


def _dashboard(cfg: Config, bus) -> tuple[object, list[str]]:
    """The dashboard on a werkzeug server thread, sharing the in-process bus (gunicorn is for
    `maskwatch dashboard`, whose workers are separate processes)."""
    import os

    from werkzeug.serving import make_server

    from maskwatch.dashboard.serve import QuietRequestHandler, make_wsgi, with_secret_key
    from maskwatch.redact import redact_db_url
    from maskwatch.storage.db import make_engine, session_factory
    from maskwatch.storage.users import ensure_first_admin, list_users

    engine = make_engine(cfg.database.url)
    sessions = session_factory(engine)
    had_users = bool(list_users(sessions))
    password = ensure_first_admin(sessions, os.environ)
    created_from_env = not had_users and not password and bool(os.environ.get("MASKWATCH_ADMIN_PASSWORD"))
    demo_flag = " --demo" if cfg.database.url == f"sqlite:///{DEMO_DATABASE}" else " -c FILE"
    app = make_wsgi(with_secret_key(cfg), bus=bus, engine=engine)
    ssl_context = None
    if cfg.dashboard.tls:
        from maskwatch.dashboard.tls import certificate_files

        ssl_context = certificate_files(cfg.dashboard, cfg.site)
    server = make_server(cfg.dashboard.host, cfg.dashboard.port, app, threaded=True, ssl_context=ssl_context,
                         request_handler=QuietRequestHandler)
    threading.Thread(target=server.serve_forever, name="dashboard", daemon=True).start()
    scheme = "https" if ssl_context else "http"
    admin = os.environ.get("MASKWATCH_ADMIN_USER") or "admin"
    banner = [f"maskwatch dashboard: {scheme}://{cfg.dashboard.host}:{server.server_port}/"]
    if password:
        banner.append(f"log in as {admin} with password {password} (shown once; set MASKWATCH_ADMIN_PASSWORD "
                      "to choose it)")
    elif created_from_env:
        banner.append(f"log in as {admin} with the password in MASKWATCH_ADMIN_PASSWORD")
    else:
        banner.append(f"log in with an existing user (`maskwatch users add NAME --role admin{demo_flag}` "
                      "adds one)")
    banner.append(f"database: {redact_db_url(cfg.database.url)}")
    return server, banner
