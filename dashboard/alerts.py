"""The alerts page: each sink's delivery state (sent, waiting, failing, the last error) from the
outbox, and the camera-health incidents, filterable; /api/alerts and /api/incidents the same."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Blueprint, jsonify, render_template, request

from maskwatch.alerts_config import INCIDENT_KINDS, MqttSink, sinks_of
from maskwatch.dashboard.params import parse_camera
from maskwatch.dashboard.state import state
from maskwatch.redact import origin, redact_text
from maskwatch.storage import outbox
from maskwatch.storage.queries import BadQuery, as_utc
from maskwatch.storage.tables import Incident

bp = Blueprint("alerts", __name__)
TIMELINE_HOURS = 24


@dataclass
class SinkView:
    name: str
    type: str
    target: str          # where it sends, without credentials
    pending: int = 0
    failing: int = 0
    delivered: int = 0
    last_error: str = ""
    last_delivered_at: dt.datetime | None = None

    @property
    def health(self) -> str:
        return "failing" if self.failing else "waiting" if self.pending else "ok"


def sink_views(session) -> list[SinkView]:
    states = outbox.sink_states(session)
    out = []
    for sink in sinks_of(state().config):
        target = f"mqtt{'s' if sink.tls else ''}://{sink.host}:{sink.port}" if isinstance(sink, MqttSink) \
            else origin(sink.url)  # Slack's, Discord's and Teams' paths are their credentials
        v = SinkView(sink.name, sink.type, target)
        if (st := states.get(sink.name)) is not None:
            v.pending, v.failing, v.delivered = st.pending, st.failing, st.delivered
            v.last_error, v.last_delivered_at = redact_text(st.last_error or ""), st.last_delivered_at
        out.append(v)
    return out


def _incident_filter():
    camera = parse_camera((request.args.get("camera") or "").strip() or None)
    kind = (request.args.get("kind") or "").strip() or None
    if kind is not None and kind not in INCIDENT_KINDS:
        raise BadQuery(f"kind: expected one of {', '.join(INCIDENT_KINDS)}")
    return camera, kind


def incident_json(i: Incident) -> dict:
    return {"id": i.id, "camera_id": i.camera_id, "camera_name": state().camera_label(i.camera_id), "kind": i.kind,
            "started_at": as_utc(i.started_at).isoformat(),
            "ended_at": as_utc(i.ended_at).isoformat() if i.ended_at else None, "detail": i.detail}


@bp.get("/alerts")
def page():
    camera, kind = _incident_filter()
    with state().sessions() as s:
        sinks = sink_views(s)
        rows = outbox.incidents(s, camera, kind, limit=200)
    return render_template("alerts.html", sinks=sinks, incidents=rows, kinds=INCIDENT_KINDS,
                           args={"camera": camera or "", "kind": kind or ""})


@bp.get("/api/alerts")
def api_alerts():
    with state().sessions() as s:
        return jsonify(sinks=[{**v.__dict__, "health": v.health, "last_delivered_at":
                               v.last_delivered_at.isoformat() if v.last_delivered_at else None}
                              for v in sink_views(s)])


@bp.get("/api/incidents")
def api_incidents():
    camera, kind = _incident_filter()
    with state().sessions() as s:
        return jsonify(items=[incident_json(i) for i in outbox.incidents(s, camera, kind, limit=500)])


def timelines(session, cameras: list[str], now: dt.datetime | None = None) -> dict[str, list[dict]]:
    """Per camera, its incidents of the last TIMELINE_HOURS as spans in % of that window."""
    now = now or dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(hours=TIMELINE_HOURS)
    span = (now - start).total_seconds()
    out: dict[str, list[dict]] = {c: [] for c in cameras}
    for i in outbox.incidents(session, since=start, limit=2000):
        if i.camera_id not in out:
            continue
        a = max(as_utc(i.started_at), start)
        b = as_utc(i.ended_at) if i.ended_at else now
        out[i.camera_id].append({"kind": i.kind, "left": round(100 * (a - start).total_seconds() / span, 2),
                                 "width": round(max(0.4, 100 * (b - a).total_seconds() / span), 2),
                                 "open": i.ended_at is None, "title": f"{i.kind}: {i.detail}".strip(": ")})
    return out
