"""The app factory: create_app(config) builds one self-contained Flask app; no module globals.

Blueprints per area: auth (login, users), violations, stats, cameras, api, ops (healthz, metrics).
The database comes from maskwatch.storage.db (plain SQLAlchemy 2.0 sessions); the bus is the one
passed in (`maskwatch run` shares its in-process bus) or a RedisBus from config.redis.url.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
import time

from flask import Flask, Response, current_app, g, request
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from maskwatch.camera_set import CameraWatch, Unfilled
from maskwatch.config import Config
from maskwatch.dashboard import alerts, api, auth, camera_admin, cameras, ops, reports, stats, violations
from maskwatch.dashboard import users as _users  # noqa: F401  (its routes join the auth blueprint at import)
from maskwatch.dashboard.errors import register_errors
from maskwatch.dashboard.limiter import make_limiter
from maskwatch.dashboard.metrics import make_registry
from maskwatch.dashboard.params import parse_time
from maskwatch.dashboard.state import EXTENSION, State, state
from maskwatch.storage.db import make_engine, session_factory
from maskwatch.storage.prune import GB
from maskwatch.storage.queries import as_utc
from maskwatch.storage.snapshots import SnapshotStore

log = logging.getLogger(__name__)

# own files only: no inline script or style, no other origin; images may be data: (none used yet)
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def _secret(config: Config) -> str:
    if config.dashboard.secret_key:
        return config.dashboard.secret_key
    log.warning("dashboard.secret_key is not set: using a random key; sessions end when this process "
                "restarts (set it, e.g. secret_key: ${MASKWATCH_SECRET_KEY})")
    return secrets.token_hex(32)


def _bus(config: Config):
    if not config.redis.url:
        return None
    from maskwatch.bus import RedisBus

    return RedisBus(config.redis.url, config.redis.prefix)


def _configure(app: Flask, config: Config) -> None:
    app.config.update(
        SECRET_KEY=_secret(config),
        SESSION_COOKIE_NAME="maskwatch_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.dashboard.cookies_secure,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12),  # one shift
        # the token lives as long as the session: operators keep a page open all shift
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=config.dashboard.cookies_secure,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked by _csrf: every form and browser call, no API token request
        MAX_CONTENT_LENGTH=1 << 20,
        SEND_FILE_MAX_AGE_DEFAULT=dt.timedelta(hours=1),
    )


def _headers(resp: Response) -> Response:
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    if resp.mimetype in ("text/html", "application/json") and request.endpoint not in ("static",):
        resp.headers.setdefault("Cache-Control", "no-store")
    if current_app.config.get("SESSION_COOKIE_SECURE"):  # served over HTTPS (itself or a proxy): stay on it
        resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return resp


def confidence(p: float) -> str:
    """p(no mask) with the digits that tell a sure row from a doubtful one: 0.912, 0.9987, > 0.9999."""
    if p >= 0.99995:
        return "> 0.9999"
    return f"{p:.4f}" if p >= 0.995 else f"{p:.3f}"


def _filters(app: Flask, config: Config) -> None:
    zone = config.zone

    @app.template_filter("ts")
    def ts(value: dt.datetime | None) -> str:
        """A stored time in the site's time zone (named beside every column and filter)."""
        return as_utc(value).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if value else ""

    @app.template_filter("input_time")
    def input_time(value: str | None, end: bool = False) -> str:
        """A validated from/to parameter as the filter form shows it: ISO, in the site's zone."""
        when = parse_time(value, "time", end=end, zone=zone) if value else None
        return when.astimezone(zone).strftime("%Y-%m-%d %H:%M") if when else ""

    app.add_template_filter(confidence, "confidence")

    @app.template_filter("gb")
    def gb(n) -> str:
        return f"{n / GB:.2f} GB" if n >= GB / 100 else f"{n / 1024 ** 2:.1f} MB"

    @app.template_filter("ago")
    def ago(epoch: float | None) -> str:
        if not epoch:
            return "never"
        s = max(0.0, time.time() - epoch)
        return f"{s:.0f} s ago" if s < 120 else f"{s / 60:.0f} min ago" if s < 7200 else f"{s / 3600:.0f} h ago"

    @app.template_filter("pct")
    def pct(value: float | None) -> str:
        return "" if value is None else f"{value * 100:.0f} %"

    @app.template_filter("duration")
    def duration(v) -> str:
        s = max(0.0, (as_utc(v.last_seen) - as_utc(v.first_seen)).total_seconds())
        return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min"


def create_app(config: Config, *, bus=None, engine: Engine | None = None,
               snapshots: SnapshotStore | None = None) -> Flask:
    """A dashboard for this config; bus/engine/snapshots override what the config would build."""
    app = Flask(__name__)
    _configure(app, config)
    engine = engine if engine is not None else make_engine(config.database.url, config.database.echo)
    bus = bus if bus is not None else _bus(config)
    sessions = session_factory(engine)
    snapshots = snapshots if snapshots is not None else SnapshotStore(config.snapshots.dir)
    app.extensions[EXTENSION] = State(
        config=config, sessions=sessions, bus=bus, snapshots=snapshots,
        # the dashboard opens no camera (but to test one): their ${VAR}s need not be set here
        watch=CameraWatch(config, bus, env=Unfilled()) if bus is not None else None,
        limiter=make_limiter(bus, config.redis.prefix, sessions),
        registry=make_registry(lambda: app.extensions[EXTENSION].config, sessions, bus, snapshots.root))
    # the login gate first, CSRF second: an anonymous POST is refused as anonymous (401/redirect)
    auth.init_auth(app)
    csrf = CSRFProtect(app)

    @app.before_request
    def _csrf():
        # a request with an API token carries no cookie: nothing for a forged request to ride on
        if current_app.config.get("WTF_CSRF_ENABLED", True) and g.get("api_token") is None:
            csrf.protect()
    for bp in (violations.bp, stats.bp, cameras.bp, camera_admin.bp, alerts.bp, reports.bp, api.bp, ops.bp):
        app.register_blueprint(bp)
    register_errors(app)
    _filters(app, config)
    app.after_request(_headers)
    if config.dashboard.trusted_proxies:
        # behind a reverse proxy every client has the proxy's address: believe exactly that many
        # proxies' X-Forwarded-* (more would let a client forge its address past the login limit)
        n = config.dashboard.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    app.jinja_env.globals.update(site=config.site, camera_label=app.extensions[EXTENSION].camera_label,
                                 zone_name=config.timezone)
    app.before_request(_follow_cameras)
    app.context_processor(_cameras)
    return app


def _follow_cameras() -> None:
    """The site's cameras as published at runtime (maskwatch.camera_set), looked at once a second."""
    st = state()
    if st.watch is not None and st.watch.poll():
        st.config = st.config.with_cameras(st.watch.cameras)


def _cameras() -> dict:
    cams = state().config.cameras
    return {"cameras": cams, "zones": {c.id: [{"name": z.name, "polygon": z.polygon} for z in c.policy.zones]
                                       for c in cams if c.policy}}
