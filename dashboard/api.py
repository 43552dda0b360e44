"""The JSON API: the same filters and keyset pages as the pages, with a `next` cursor.

Errors are JSON too ({"error": ..., "status": ...}); bad parameters are 400. The one POST (review)
needs the session's CSRF token in an X-CSRFToken header, like every other POST.
"""
from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for
from flask_login import current_user

from maskwatch.dashboard.auth import require
from maskwatch.dashboard.params import (
    filter_args,
    parse_cursor,
    parse_filter,
    parse_int,
    parse_range,
    parse_sort,
    parse_status,
    parse_time,
)
from maskwatch.dashboard.state import state
from maskwatch.dashboard.stats import build_stats
from maskwatch.dashboard.status import read_status
from maskwatch.dashboard.violations import violation_or_404
from maskwatch.storage.queries import BadQuery, as_utc, fetch_page, new_since, review
from maskwatch.storage.tables import Role, Violation

bp = Blueprint("api", __name__, url_prefix="/api")


def _time(value):
    return as_utc(value).isoformat() if value is not None else None


def violation_json(v: Violation) -> dict:
    return {
        "id": v.id, "camera_id": v.camera_id, "camera_name": state().camera_label(v.camera_id),
        "track_id": v.track_id, "first_seen": _time(v.first_seen), "last_seen": _time(v.last_seen),
        "evidence_at": _time(v.evidence_at),
        "p_no_mask": v.p_no_mask, "verdict": v.verdict.value, "face_score": v.face_score, "face_width": v.face_width,
        "box": v.box,
        "frame_width": v.frame_width, "frame_height": v.frame_height, "sightings": v.sightings,
        "model_version": v.model_version, "review_status": v.review_status.value,
        "review_label": v.review_label.value if v.review_label else None,
        "review_note": v.review_note, "reviewed_by": v.reviewed_by, "reviewed_at": _time(v.reviewed_at),
        "url": url_for("violations.detail", vid=v.id),
        "crop_url": url_for("violations.crop", vid=v.id), "frame_url": url_for("violations.frame", vid=v.id),
        "clip_url": url_for("violations.clip", vid=v.id) if v.clip_path else None,
    }


@bp.get("/violations")
def violations():
    st = state()
    flt, sort = parse_filter(request.args, st.config.zone), parse_sort(request.args)
    limit = parse_int(request.args.get("limit") or None, "limit", 1, 500, st.config.dashboard.page_size)
    cursor = parse_cursor(request.args, "cursor")
    with st.sessions() as s:
        page = fetch_page(s, flt, limit, before=cursor, sort=sort)
    nxt = page.older.encode() if page.older else None
    return jsonify(items=[violation_json(v) for v in page.rows], next=nxt,
                   next_url=url_for("api.violations", **filter_args(request.args), limit=limit, cursor=nxt)
                   if nxt else None)


@bp.get("/violations/new")
def new_violations():
    """How many matching violations were written after `since` (a created_at from the list page or
    the last answer), the newest few, and the next `since`: what the list polls."""
    st = state()
    flt = parse_filter(request.args, st.config.zone)
    since = parse_time((request.args.get("since") or "").strip() or None, "since")
    if since is None:
        raise BadQuery("since: required (the `latest` of the last answer, or the page's)")
    with st.sessions() as s:
        found = new_since(s, flt, since)
        items = [violation_json(v) for v in found.rows]
    return jsonify(count=found.count, latest=_time(found.latest) or since.isoformat(), items=items)


@bp.get("/violations/<vid>")
def violation(vid: str):
    return jsonify(violation_json(violation_or_404(vid)))


@bp.post("/violations/<vid>/review")
@require(Role.operator)
def review_one(vid: str):
    violation_or_404(vid)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadQuery("expected a JSON object {\"status\": ..., \"note\": ...}")
    status = parse_status(body.get("status") if isinstance(body.get("status"), str) else "", "status")
    note = body.get("note")
    if status is None or (note is not None and not isinstance(note, str)):
        raise BadQuery("status: required; note: a string")
    with state().sessions() as s:
        review(s, [vid], status, note, current_user.username)
        v = s.get(Violation, vid)
    return jsonify(violation_json(v))


@bp.get("/stats")
def stats():
    st = state()
    start, end = parse_range(request.args, zone=st.config.zone)
    with st.sessions() as s:
        return jsonify(build_stats(s, st, start, end, (request.args.get("bucket") or "").strip() or None).as_json())


@bp.get("/openapi.json")
def openapi():
    """The document of this API (public, like any API's description: it names no camera or user)."""
    from maskwatch.dashboard.openapi import document

    return jsonify(document())


@bp.get("/cameras")
def cameras():
    st = state()
    return jsonify(read_status(st.config, st.bus).as_json())
