"""Operations endpoints, open without login: /healthz for load balancers, /metrics for Prometheus."""
from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from maskwatch.dashboard.state import state
from maskwatch.dashboard.status import read_events
from maskwatch.errors import BusError

log = logging.getLogger(__name__)
bp = Blueprint("ops", __name__)


def _db_ok() -> bool:
    try:
        with state().sessions() as s:
            s.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError as e:
        log.warning("healthz: database unavailable: %s", type(e).__name__)
        return False


def _bus_state() -> str:
    bus = state().bus
    if bus is None:
        return "none"  # no bus configured: the dashboard still serves violations
    try:
        return "ok" if bus.ping() else "error"
    except (BusError, OSError) as e:
        log.warning("healthz: bus unavailable: %s", type(e).__name__)
        return "error"


def _events_state() -> dict:
    """The pipeline's events side as the dashboard sees it: lag in seconds and what is wrong (its
    status hashes only: a probe must stay cheap)."""
    try:
        ev = read_events(state().config, state().bus)
    except (BusError, OSError) as e:
        log.warning("healthz: events status unavailable: %s", type(e).__name__)
        return {"state": "unknown"}
    if not ev.get("present"):
        return {"state": "unknown"}
    return {"state": "degraded" if ev["problem"] else "ok", "lag_s": ev["lag_s"], "problem": ev["problem"]}


@bp.get("/healthz")
def healthz():
    db = "ok" if _db_ok() else "error"
    redis = _bus_state()
    healthy = db == "ok" and redis != "error"
    events = _events_state() if redis == "ok" else {"state": "unknown"}  # informs; never fails the probe
    resp = jsonify(db=db, redis=redis, events=events)
    resp.status_code = 200 if healthy else 503
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/metrics")
def metrics():
    token = state().config.dashboard.metrics_token
    if token is not None:
        scheme, _, given = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            resp = Response("metrics need a bearer token (dashboard.metrics_token)\n", 401, mimetype="text/plain")
            resp.headers["WWW-Authenticate"] = 'Bearer realm="maskwatch metrics"'
            return resp
    resp = Response(generate_latest(state().registry), content_type=CONTENT_TYPE_LATEST)
    resp.headers["Cache-Control"] = "no-store"
    return resp
