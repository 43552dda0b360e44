"""The cameras' admin page over the real Redis and SQLite: add, edit, disable and remove; what is
shown of a URL; what the services are told (the published list); "test connection" against a real
RTSP server and a closed port."""
from __future__ import annotations

import html
import os
import re
import secrets

import numpy as np
import pytest
from support.dashboard import dashboard_config, drop_prefix, login, make_users, open_bus
from support.databases import sqlite_database
from support.make_clip import make_h264_clip
from support.rtsp import RtspServer, free_port, gst_available

from maskwatch import camera_set
from maskwatch.dashboard.app import create_app


@pytest.fixture
def site(tmp_path):
    prefix = f"mwtest-{secrets.token_hex(4)}"
    bus = open_bus(prefix)
    cfg = dashboard_config(sqlite_database(tmp_path), tmp_path / "snaps", redis_url=bus.url, prefix=prefix)
    app = create_app(cfg, bus=bus)
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    users = make_users(app.extensions["maskwatch"].sessions)
    client = app.test_client()
    login(client, users["admin"])
    yield client, bus
    drop_prefix(bus, prefix)
    bus.close()


def _published(bus) -> dict:
    version, specs = camera_set.read(bus)
    return {s["id"]: s for s in specs}


def test_an_admin_adds_edits_disables_and_removes_a_camera(site, monkeypatch):
    client, bus = site
    page = client.get("/cameras/manage").get_data(as_text=True)
    assert 'data-cam="cam-a"' in page and "hunter2" not in page  # the file's cameras, seeded, redacted
    url = "rtsp://viewer:${DOCK_PW}@10.0.0.7:554/live?token=abc123"
    resp = client.post("/cameras/manage", data={"id": "dock", "name": "Dock", "url": url, "fps": "2", "enabled": "on",
                                                "max_side": "1920"})
    assert resp.status_code == 302
    assert _published(bus)["dock"] == {"id": "dock", "name": "Dock", "url": url, "fps": "2", "enabled": True,
                                       "max_side": "1920"}
    page = client.get("/cameras/manage").get_data(as_text=True)
    assert 'data-cam="dock"' in page and "abc123" not in page and "DOCK_PW" not in page

    # an edit that leaves the URL empty keeps it; unchecking "enabled" disables the camera
    edit = client.get("/cameras/manage?edit=dock").get_data(as_text=True)
    assert 'name="editing" value="dock"' in edit and "abc123" not in edit
    client.post("/cameras/manage",
                data={"editing": "dock", "id": "dock", "name": "Loading dock", "url": "", "fps": "2"})
    dock = _published(bus)["dock"]
    assert dock["url"] == url and dock["enabled"] is False and dock["name"] == "Loading dock"
    assert "max_side" not in dock  # emptied: the site's cap again
    # the rest of the dashboard follows: the camera's new name on its pages
    assert "Loading dock" in client.get("/cameras").get_data(as_text=True)

    client.post("/cameras/manage/dock/remove")
    assert "dock" not in _published(bus) and set(_published(bus)) == {"cam-a", "cam-b"}


@pytest.mark.parametrize("form, error", [
    ({"id": "Bad Id", "url": "rtsp://10.0.0.9/s"}, "id"),
    ({"id": "cam-a", "url": "rtsp://10.0.0.9/s"}, "a camera 'cam-a' exists already"),
    ({"id": "new", "url": "ftp://10.0.0.9/s"}, "unsupported URL scheme"),
    ({"id": "new", "url": "rtsp://10.0.0.9/s", "fps": "500"}, "fps"),
    ({"id": "new", "url": ""}, "url"),
    ({"id": "new", "url": "rtsp://10.0.0.9/s", "max_side": "99"}, "max_side"),
])
def test_a_camera_that_would_not_work_is_not_saved(site, form, error):
    client, bus = site
    resp = client.post("/cameras/manage", data=form)
    assert resp.status_code == 400 and error in html.unescape(resp.get_data(as_text=True))
    assert set(_published(bus) if camera_set.read(bus) else {}) <= {"cam-a", "cam-b"}


def test_test_connection_shows_a_frame_or_the_reason(site, tmp_path, monkeypatch):
    client, _ = site
    closed = free_port()
    resp = client.post("/cameras/manage/test", data={"id": "x", "url": f"rtsp://127.0.0.1:{closed}/s"})
    assert f"cannot reach 127.0.0.1 port {closed}" in resp.get_data(as_text=True)
    resp = client.post("/cameras/manage/test", data={"id": "x", "url": "rtsp://u:${NOT_SET_PW}@127.0.0.1/s"})
    assert "environment variable NOT_SET_PW is not set" in resp.get_data(as_text=True)
    if not gst_available():
        pytest.skip("GStreamer's RTSP server is missing: .ci/system-deps.sh")
    frames = [np.full((120, 160, 3), 40 + 6 * i, np.uint8) for i in range(20)]
    server = RtspServer({"cam": make_h264_clip(frames, 10, tmp_path / "cam.h264")}, fps=10).start()
    try:
        monkeypatch.setenv("TEST_CAM_PATH", "cam")
        url = server.url("cam").rsplit("/", 1)[0] + "/${TEST_CAM_PATH}"
        page = client.post("/cameras/manage/test", data={"id": "x", "url": url}).get_data(as_text=True)
        assert "Connected: its first frame." in page
        assert re.search(r'<img class="test-frame" src="data:image/jpeg;base64,/9j/', page)
        wrong = client.post("/cameras/manage/test", data={"id": "x", "url": server.url("nothing-here")})
        assert "the stream did not open" in wrong.get_data(as_text=True)
    finally:
        server.stop()
    assert os.environ.get("TEST_CAM_PATH") == "cam"
