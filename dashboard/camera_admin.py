"""The cameras' admin page: add, edit, disable and remove cameras while the site runs, and try a
camera's URL before saving it ("test connection": one frame, or the reason).

The list is the database's (maskwatch.storage.cameras, seeded from the config file); every change
is published to the services (maskwatch.camera_set), which pick it up within about a second
without restarting any other camera. URLs are kept as typed, ${ENV} placeholders and all: the
page shows them redacted (no password, no query values), and an edit that leaves the URL empty
keeps the stored one, so a secret typed in once is never shown again.
"""
from __future__ import annotations

import base64
import os

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from maskwatch import camera_set
from maskwatch.camera_set import Unfilled
from maskwatch.config import ConfigError, parse_camera
from maskwatch.dashboard.auth import require
from maskwatch.dashboard.state import state
from maskwatch.redact import redact_url
from maskwatch.storage import cameras as table
from maskwatch.storage.tables import Role

bp = Blueprint("camera_admin", __name__)


def _spec(form, stored: dict | None) -> dict:
    """The camera entry the form describes; what the form has no field for is kept from `stored`."""
    spec = dict(stored or {})
    spec.update(id=(form.get("id") or "").strip(), name=(form.get("name") or "").strip(),
                url=(form.get("url") or "").strip() or (stored or {}).get("url", ""),
                enabled=form.get("enabled") == "on")
    for key in ("fps", "max_side"):
        value = (form.get(key) or "").strip()
        if value:
            spec[key] = value
        elif key == "max_side":
            spec.pop(key, None)  # empty: the site's detector.max_side
    return {k: v for k, v in spec.items() if v != "" or k == "url"}


def _submitted() -> tuple[str | None, dict | None, dict]:
    """(the id being edited, its stored entry, the entry the form describes)."""
    editing = request.form.get("editing") or None
    with state().sessions() as s:
        row = table.get(s, editing) if editing else None
        stored = dict(row.spec) if row else None
    return editing, stored, _spec(request.form, stored)


def _check(spec: dict) -> None:
    """The entry must make a valid camera whatever the ${VAR}s hold: the dashboard's environment
    need not have the cameras' secrets."""
    parse_camera(spec, Unfilled(), state().config.schedules)


def _publish() -> None:
    st = state()
    with st.sessions() as s:
        version, specs = table.current(s)
    camera_set.publish(st.bus, version, specs)
    if st.watch is not None and st.watch.poll(now=True):  # this process at once; the others within a second
        st.config = st.config.with_cameras(st.watch.cameras)


def _rows() -> list:
    with state().sessions.begin() as s:
        table.seed(s, state().config.raw_cameras)  # idempotent: the file's cameras are listed from the start
        rows = [(r.id, dict(r.spec), r.updated_by, r.updated_at) for r in table.listing(s)]
    return [{"id": i, "spec": spec, "url": redact_url(spec.get("url", "")), "by": by, "at": at}
            for i, spec, by, at in rows]


def _page(status: int = 200, **extra):
    return render_template("camera_admin.html", rows=_rows(), **extra), status


@bp.get("/cameras/manage")
@require(Role.admin)
def manage():
    edit = request.args.get("edit")
    stored = next((r for r in _rows() if r["id"] == edit), None) if edit else None
    return _page(form=stored["spec"] if stored else None, editing=edit if stored else None,
                 stored_url=stored["url"] if stored else "")


@bp.post("/cameras/manage")
@require(Role.admin)
def save():
    editing, stored, spec = _submitted()
    try:
        _check(spec)
        with state().sessions.begin() as s:
            table.seed(s, state().config.raw_cameras)  # the file's cameras first: their ids are taken
            if spec["id"] != editing and table.get(s, spec["id"]) is not None:
                raise ConfigError(f"id: a camera {spec['id']!r} exists already")
            table.save(s, spec, current_user.username, replaces=editing)
    except ConfigError as e:
        flash(f"Not saved: {e}", "error")
        return _page(400, form=spec, editing=editing, stored_url=redact_url((stored or {}).get("url", "")))
    _publish()
    flash(f"Camera {spec['id']} saved: the site picks it up within seconds.", "ok")
    return redirect(url_for("camera_admin.manage"))


@bp.post("/cameras/manage/<cam_id>/remove")
@require(Role.admin)
def remove(cam_id: str):
    with state().sessions.begin() as s:
        gone = table.remove(s, cam_id, current_user.username)
    if gone:
        _publish()
        flash(f"Camera {cam_id} removed: its violations stay.", "ok")
    return redirect(url_for("camera_admin.manage"))


@bp.post("/cameras/manage/test")
@require(Role.admin)
def test():
    """Open the URL from the form (or the stored one) here, once, and show its frame or the reason."""
    editing, stored, spec = _submitted()
    result = {"ok": False, "reason": ""}
    try:
        _check(spec)
        cam = parse_camera(spec, dict(os.environ), state().config.schedules)
    except ConfigError as e:
        result["reason"] = str(e)
    else:
        # OpenCV only here: the dashboard does not load it otherwise (tests/dashboard: imports)
        from maskwatch.camera_source import try_camera

        jpeg, reason = try_camera(cam, state().config.ingest)
        result = {"ok": jpeg is not None, "reason": reason,
                  "image": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode() if jpeg else None}
    if request.accept_mimetypes.best == "application/json":  # the page's script: the form stays as typed
        return jsonify(result)
    return _page(200, form=spec, editing=editing, tested=result,
                 stored_url=redact_url((stored or {}).get("url", "")))
