"""Running the dashboard: gunicorn for a site, a plain WSGI app for embedding in `maskwatch run`.

`python -m maskwatch.dashboard.serve CONFIG.yaml` runs serve() directly (the CLI's `maskwatch dashboard -c`
does the same through the composition root).
"""
from __future__ import annotations

import logging
import secrets
import sys
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from werkzeug.serving import WSGIRequestHandler

from maskwatch.config import Config, load_config

log = logging.getLogger(__name__)


def with_secret_key(config: Config) -> Config:
    """The config with a session key: gunicorn workers are separate processes, so a key generated
    per process would make every worker reject the others' sessions. One key is made here, before
    the workers fork, and they all get it."""
    if config.dashboard.secret_key:
        return config
    log.warning("dashboard.secret_key is not set: generated one for this run; logins end when the "
                "dashboard restarts (set secret_key: ${MASKWATCH_SECRET_KEY})")
    dashboard = config.dashboard.model_copy(update={"secret_key": secrets.token_hex(32)})
    return config.model_copy(update={"dashboard": dashboard})


def gunicorn_options(config: Config) -> dict[str, Any]:
    d = config.dashboard
    host = f"[{d.host}]" if ":" in d.host and not d.host.startswith("[") else d.host
    tls = {}
    if d.tls:
        from maskwatch.dashboard.tls import certificate_files

        tls["certfile"], tls["keyfile"] = certificate_files(d, config.site)
    return {
        **tls,
        "bind": f"{host}:{d.port}",
        "workers": d.workers,
        "threads": d.threads,
        "worker_class": "gthread",
        "timeout": 60,
        "graceful_timeout": 10,
        "keepalive": 5,
        "accesslog": "-",
        "errorlog": "-",
        "proc_name": "maskwatch-dashboard",
        # workers build their own app after the fork: no database or Redis socket is shared
        "preload_app": False,
    }


class DashboardServer(BaseApplication):
    def __init__(self, config: Config, options: dict[str, Any]):
        self.mw_config = config
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        from maskwatch.dashboard.app import create_app

        return create_app(self.mw_config)


def serve(config: Config) -> None:
    """Run the dashboard under gunicorn until it is stopped (SIGTERM/SIGINT); blocks."""
    config = with_secret_key(config)
    options = gunicorn_options(config)
    d = config.dashboard
    log.info("dashboard: serving %s on %s:%d (%d workers x %d threads)", "HTTPS" if d.tls else "HTTP",
             d.host, d.port, d.workers, d.threads)
    if d.cookies_secure and not d.tls:
        log.warning("dashboard: cookies are Secure but this server speaks plain HTTP: logins work only "
                    "through an HTTPS proxy in front of it (else set dashboard.tls or secure_cookies: false)")
    DashboardServer(config, options).run()


class QuietRequestHandler(WSGIRequestHandler):
    """werkzeug's handler without `Server: Werkzeug/x.y Python/3.z` on every response (the
    embedded server of `maskwatch run`; gunicorn says only "gunicorn")."""

    def version_string(self) -> str:
        return "maskwatch"


def make_wsgi(config: Config, *, bus=None, engine=None, snapshots=None) -> Flask:
    """The WSGI app for embedding (werkzeug's make_server in `maskwatch run`, with its in-process bus)."""
    from maskwatch.dashboard.app import create_app

    return create_app(config, bus=bus, engine=engine, snapshots=snapshots)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m maskwatch.dashboard.serve CONFIG.yaml", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(load_config(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
