"""The cameras page (status from the bus), the camera wall, and each camera's latest frame.

A camera's latest frame is one `live` blob from the workers: the JPEG as ingest sent it and its
faces. live.jpg serves the picture; live.json the picture (as a data: URL) with its faces, which
the pages draw as HTML labels in screen pixels, legible at any tile size.
"""
from __future__ import annotations

import base64
import logging
import math
import time

from flask import Blueprint, Response, abort, jsonify, render_template, request
from sqlalchemy.exc import DBAPIError

from maskwatch.dashboard.alerts import timelines
from maskwatch.dashboard.params import parse_int
from maskwatch.dashboard.state import state
from maskwatch.dashboard.status import read_status
from maskwatch.dashboard.storage import read_storage
from maskwatch.errors import BusError
from maskwatch.wire import WireError
from maskwatch.wire import live as wire_live

log = logging.getLogger(__name__)
bp = Blueprint("cameras", __name__)
WALL_SIZES = (1, 4, 9, 16)
WATCH_TTL_S = 15  # a live page polls every second or two: workers stop publishing soon after it closes


@bp.get("/cameras")
def page():
    st = state()
    try:
        with st.sessions() as s:
            lines = timelines(s, st.camera_ids)
    except DBAPIError as e:  # the status comes from the bus: without the database, only the timelines go
        log.warning("cameras: incidents unreadable (%s)", type(e).__name__)
        lines = {}
    return render_template("cameras.html", status=read_status(st.config, st.bus), now=time.time(), timelines=lines,
                           storage=read_storage(st.config, st.bus, st.snapshots.root))


@bp.get("/wall")
def wall():
    """A grid of 1, 4, 9 or 16 cameras (?n=), paged (?page=) when a site has more."""
    st = state()
    n = parse_int(request.args.get("n") or None, "n", 1, 16, 9)
    if n not in WALL_SIZES:
        n = min(s for s in WALL_SIZES if s >= n)  # n=6 shows a 3x3 grid
    status = read_status(st.config, st.bus)
    pages = max(1, math.ceil(len(status.cameras) / n))
    page_no = parse_int(request.args.get("page") or None, "page", 1, pages, 1)
    tiles = status.cameras[(page_no - 1) * n:page_no * n]
    return render_template("wall.html", status=status, tiles=tiles, n=n, cols=math.isqrt(n), sizes=WALL_SIZES,
                           page_no=page_no, pages=pages)


def _live(cam: str) -> wire_live.LiveFrame:
    st = state()
    if cam not in st.camera_ids or st.bus is None:
        abort(404, "no such camera")
    try:
        # someone is watching: the workers publish this camera's live frames for a while
        st.bus.put_blob(st.bus.keys.watched(cam), b"1", ttl_s=WATCH_TTL_S)
        blob = st.bus.get_blob(st.bus.keys.live(cam))
    except (BusError, OSError) as e:  # Redis down: the page shows its placeholder and retries
        log.warning("live %s: cannot read the bus: %s", cam, type(e).__name__)
        abort(503, "the bus cannot be reached")
    if not blob:
        abort(404, "no frame yet")
    try:
        return wire_live.decode(blob)
    except WireError as e:  # a worker of another version: say so once per request, show nothing
        log.warning("live %s: %s", cam, e)
        abort(404, "no readable frame")


@bp.get("/cameras/<cam>/live.jpg")
def live(cam: str):
    return Response(_live(cam).jpeg, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})


@bp.get("/cameras/<cam>/live.json")
def live_json(cam: str):
    f = _live(cam)
    return jsonify(camera=f.camera, captured_at=f.captured_at, age_s=round(max(0.0, time.time() - f.captured_at), 1),
                   width=f.width, height=f.height,
                   faces=[{"box": list(x.box), "kind": x.kind, "label": x.label} for x in f.faces],
                   image="data:image/jpeg;base64," + base64.b64encode(f.jpeg).decode("ascii"))
