"""Camera-health incidents from real cameras: ingest reads gst-rtsp-server streams through OpenCV
(as in production), the alerts loop judges its status records, and a real webhook receives one
message when each incident opens and one when it closes. One camera's server is killed and started
again (offline); one stream stops changing for a while (frozen); one is black for a while (dark)."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from sqlalchemy import select
from support.events import REDIS_URL, database, wait_for
from support.make_clip import make_h264_clip
from support.receivers import Webhook
from support.rtsp import RtspServer, gst_available

from maskwatch.builders import build_ingest
from maskwatch.config import parse_config
from maskwatch.storage.db import upgrade
from maskwatch.storage.tables import Incident
from maskwatch.workers.alerts.service import AlertsService

pytestmark = pytest.mark.skipif(not gst_available(), reason="GStreamer's RTSP server is missing: .ci/system-deps.sh")
FPS = 10


def _frame(i: int | None) -> np.ndarray:
    """A grey picture with a white square at step i (None: all black)."""
    img = np.zeros((120, 160, 3), np.uint8)
    if i is not None:
        img[:] = 90
        x = 10 + (i * 7) % 120
        img[40:80, x:x + 30] = 255
    return img


def _clips(tmp) -> dict:
    moving = [_frame(i) for i in range(8 * FPS)]
    # one keyframe a loop: in the still part every frame decodes to the same picture, as when a
    # camera's encoder freezes
    paused = moving[:6 * FPS] + [moving[6 * FPS]] * (8 * FPS)
    black = [_frame(None)] * (6 * FPS) + [_frame(i) for i in range(10 * FPS)]
    return {"live": make_h264_clip(moving, FPS, tmp / "live.h264"),
            "paused": make_h264_clip(paused, FPS, tmp / "paused.h264", keyframe_interval=len(paused)),
            "black": make_h264_clip(black, FPS, tmp / "black.h264", keyframe_interval=len(black))}


def _incidents(sessions) -> list[tuple[str, str, bool]]:
    with sessions() as s:
        return [(i.camera_id, i.kind, i.ended_at is not None)
                for i in s.scalars(select(Incident).order_by(Incident.started_at))]


CAMERAS = ("gate", "hall", "yard")


def _messages(hook: Webhook, cameras) -> dict[str, list[tuple[str, str]]]:
    """The webhook's (kind, state) pairs by camera, in the order they came."""
    by_camera: dict[str, list[tuple[str, str]]] = {cam: [] for cam in cameras}
    for m in list(hook.got):
        by_camera.setdefault(m["camera"]["id"], []).append((m["kind"], m["state"]))
    return by_camera


def test_offline_frozen_and_black_cameras_each_open_and_close_one_incident(bus, tmp_path):
    clips = _clips(tmp_path)
    main = RtspServer({"paused": clips["paused"], "black": clips["black"]}, fps=FPS).start()
    lone = RtspServer({"live": clips["live"]}, fps=FPS).start()   # the one that is killed
    hook = Webhook().start()
    url = f"sqlite:///{tmp_path / 'health.db'}"
    upgrade(url)
    cfg = parse_config({
        "redis": {"url": REDIS_URL, "prefix": bus.keys.prefix}, "database": {"url": url},
        "cameras": [{"id": "gate", "url": lone.url("live"), "fps": 5},
                    {"id": "hall", "url": main.url("paused"), "fps": 5},
                    {"id": "yard", "url": main.url("black"), "fps": 5}],
        "ingest": {"open_timeout_s": 2, "read_timeout_s": 2, "backoff_initial_s": 0.5, "backoff_max_s": 1,
                   "status_interval_s": 0.5},
        "alerts": {"sinks": [{"type": "webhook", "name": "ops", "url": hook.url, "kinds": ["incident"]}],
                   "retry_max_s": 1,
                   "health": {"offline_s": 2, "frozen_s": 2, "dark_s": 2, "slow_fraction": 0}}}, env={})
    stop = threading.Event()
    ingest = build_ingest(cfg, bus, stop)
    threads = [threading.Thread(target=ingest.run, daemon=True)]
    try:
        with database(url) as (_, sessions):
            alerts = AlertsService(cfg, bus, sessions, stop)
            threads.append(alerts.thread)
            threads[0].start()
            alerts.start()
            wait_for(lambda: ("yard", "dark", False) in _incidents(sessions), timeout=20, what="yard black")
            lone.kill()   # the gate camera loses power
            wait_for(lambda: ("gate", "offline", False) in _incidents(sessions), timeout=20, what="gate offline")
            wait_for(lambda: ("hall", "frozen", False) in _incidents(sessions), timeout=20, what="hall frozen")
            lone.start()  # and comes back
            for cam, kind in (("yard", "dark"), ("gate", "offline"), ("hall", "frozen")):
                wait_for(lambda c=cam, k=kind: (c, k, True) in _incidents(sessions), timeout=30,
                         what=f"{cam} {kind} closed")
            # the clips loop, so a camera may open its next incident (yard's black part comes round
            # again after 16 s) before another's closing message is sent: wait for every camera's
            # first two, not for a total (CI once counted six with hall's "closed" still to come)
            wait_for(lambda: all(len(m) >= 2 for m in _messages(hook, CAMERAS).values()), timeout=10,
                     what="each camera's opened and closed messages")
            seen = _incidents(sessions)
        firsts = {}
        for cam, kind, closed in seen:
            firsts.setdefault(cam, (kind, closed))
        assert firsts == {"gate": ("offline", True), "hall": ("frozen", True), "yard": ("dark", True)}
        # a camera back from an outage is not frozen: the picture from before it is forgotten
        assert {kind for cam, kind, _ in seen if cam == "gate"} == {"offline"}
        by_camera = _messages(hook, CAMERAS)
        for cam, kind in (("gate", "offline"), ("hall", "frozen"), ("yard", "dark")):
            assert by_camera[cam][:2] == [(kind, "opened"), (kind, "closed")], (cam, by_camera[cam])
        assert len(set(hook.ids())) == len(hook.ids())  # each message once
    finally:
        stop.set()
        for t in threads:
            if t.is_alive():
                t.join(15)
        for server in (main, lone):
            server.stop()
        hook.stop()
