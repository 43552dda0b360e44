"""The messages maskwatch sends to webhooks and MQTT: JSON objects, schema "maskwatch.alert/1".

Every message has `schema`, `type` (violation | incident | digest), `message_id` (the same on every
retry and replay: receivers deduplicate by it), `site` and `sent_for` (the camera). Adding a field
is compatible; changing or removing one makes a new schema version.
"""
from __future__ import annotations

import base64
import datetime as dt

from maskwatch.geometry import box_width

SCHEMA = "maskwatch.alert/1"


def _camera(camera_id: str, name: str) -> dict:
    return {"id": camera_id, "name": name}


def violation_message_id(violation_id: str) -> str:
    return f"violation:{violation_id}"


def incident_message_id(incident_id: str, state: str) -> str:
    return f"incident:{incident_id}:{state}"


def violation(*, site: str, violation_id: str, camera_id: str, camera_name: str, first_seen: dt.datetime,
              p_no_mask: float, face_score: float, box: list[float], frame_size: tuple[int, int],
              model_version: str, url: str | None = None, verdict: str = "no_mask") -> dict:
    """verdict: no_mask, or mask_incorrect (worn under the nose or on the chin)."""
    return {"schema": SCHEMA, "type": "violation", "message_id": violation_message_id(violation_id),
            "site": site, "camera": _camera(camera_id, camera_name), "id": violation_id, "verdict": verdict,
            "first_seen": first_seen.astimezone(dt.UTC).isoformat(), "p_no_mask": round(float(p_no_mask), 4),
            "face_score": round(float(face_score), 4), "face_width": box_width(box),
            "box": [round(float(v), 1) for v in box], "frame_size": list(frame_size), "model_version": model_version,
            "url": url}


def incident(*, site: str, incident_id: str, camera_id: str, camera_name: str, kind: str, state: str,
             started_at: dt.datetime, ended_at: dt.datetime | None, detail: str) -> dict:
    """state: "opened" when the problem starts, "closed" when it ends (then with ended_at)."""
    return {"schema": SCHEMA, "type": "incident", "message_id": incident_message_id(incident_id, state),
            "site": site, "camera": _camera(camera_id, camera_name), "id": incident_id, "kind": kind,
            "state": state, "started_at": started_at.astimezone(dt.UTC).isoformat(),
            "ended_at": ended_at.astimezone(dt.UTC).isoformat() if ended_at else None, "detail": detail}


def report(*, site: str, name: str, period_start: dt.datetime, period_end: dt.datetime, label: str,
           table: list[list], csv_text: str | None, pdf: bytes | None) -> dict:
    """A scheduled compliance report (maskwatch.report_files) for the sinks that take reports: the
    table as objects, and the files as sent by e-mail (the PDF in base64)."""
    keys = ("camera_id", "camera_name", "people", "violations", "compliance", "not_judged", "watched")
    return {"schema": SCHEMA, "type": "report",
            "message_id": f"report:{name}:{period_start.astimezone(dt.UTC).isoformat()}",
            "site": site, "camera": _camera("", "all cameras"), "name": name, "period": label,
            "start": period_start.isoformat(), "end": period_end.isoformat(),
            "cameras": [dict(zip(keys, row)) for row in table], "csv": csv_text,
            "pdf_base64": base64.b64encode(pdf).decode() if pdf else None}


def digest(*, site: str, camera_id: str, camera_name: str, violations: list[dict]) -> dict:
    """Several violations of one camera in one message (a sink's digest_minutes)."""
    ids = sorted(v["id"] for v in violations)
    return {"schema": SCHEMA, "type": "digest", "message_id": f"digest:{camera_id}:{ids[0]}:{len(ids)}",
            "site": site, "camera": _camera(camera_id, camera_name), "count": len(violations),
            "first": min(v["first_seen"] for v in violations), "last": max(v["first_seen"] for v in violations),
            "violations": violations}
