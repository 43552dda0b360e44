"""The cameras page (status from the bus) and each camera's latest annotated frame."""
from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, abort, render_template

from dashboard.state import state
from dashboard.status import read_status
from maskwatch.errors import BusError

log = logging.getLogger(__name__)
bp = Blueprint("cameras", __name__)


@bp.get("/cameras")
def page():
    st = state()
    return render_template("cameras.html", status=read_status(st.config, st.bus), now=time.time())


@bp.get("/cameras/<cam>/live.jpg")
def live(cam: str):
    st = state()
    if cam not in st.camera_ids or st.bus is None:
        abort(404, "no such camera")
    try:
        blob = st.bus.get_blob(st.bus.keys.live(cam))
    except (BusError, OSError) as e:  # Redis down: the page shows its placeholder and retries
        log.warning("live %s: cannot read the bus: %s", cam, type(e).__name__)
        abort(503, "the bus cannot be reached")
    if not blob:
        abort(404, "no frame yet")
    return Response(blob, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})
