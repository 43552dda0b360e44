"""An admin adds a camera in Chromium while the site runs: tests its connection against a real RTSP
server (its first frame shown), saves it, and finds it on the cameras page; the URL's secret is
never on a page (tests/dashboard/conftest.py has the site)."""
from __future__ import annotations

import numpy as np
import pytest
from support.browser import artifacts
from support.make_clip import make_h264_clip
from support.rtsp import RtspServer, gst_available

from maskwatch import camera_set

pytestmark = pytest.mark.skipif(not gst_available(), reason="GStreamer's RTSP server is missing: .ci/system-deps.sh")


def test_an_admin_adds_a_camera_and_tests_its_connection(tab, browser_site, tmp_path):
    frames = [np.full((180, 320, 3), 30 + 8 * i, np.uint8) for i in range(20)]
    server = RtspServer({"dock": make_h264_clip(frames, 10, tmp_path / "dock.h264")}, fps=10).start()
    page, shots = tab.page, artifacts()
    try:
        tab.login("admin")
        page.click("header nav >> text=Cameras")
        page.click("text=Add, edit or remove cameras")
        page.wait_for_selector("table.cameras-admin")
        page.fill("form.camera-form input[name=id]", "dock")
        page.fill("form.camera-form input[name=name]", "Loading dock")
        # a query value stands in for a secret here: the page must never show it back
        page.fill("form.camera-form input[name=url]", server.url("dock") + "?token=tok-s3cret")
        page.click("text=Test connection")
        page.wait_for_selector("img.test-frame")
        assert page.eval_on_selector("img.test-frame", "i => i.complete && i.naturalWidth") == 320
        page.screenshot(path=str(shots / "20-camera-test.png"), full_page=True)
        page.click("form.camera-form button.primary")
        page.wait_for_selector(".flash.ok")
        assert page.locator('tr[data-cam="dock"]').count() == 1 and "tok-s3cret" not in page.content()
        page.screenshot(path=str(shots / "21-camera-added.png"), full_page=True)
        version, specs = camera_set.read(browser_site.bus)
        assert specs[-1]["id"] == "dock" and specs[-1]["url"].endswith("?token=tok-s3cret")  # as typed

        page.click("header nav >> text=Cameras")
        page.wait_for_selector('section.cam[data-cam="dock"]')
        assert "Loading dock" in page.inner_text('section.cam[data-cam="dock"]')

        page.click("header nav >> text=Cameras")
        page.click("text=Add, edit or remove cameras")
        asked = []
        page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
        page.click('tr[data-cam="dock"] button:has-text("Remove")')  # asked first; "cancel" keeps it
        page.wait_for_timeout(300)
        assert asked == ["Remove camera dock? Its reader stops; its violations stay."]
        assert page.locator('tr[data-cam="dock"]').count() == 1
        page.once("dialog", lambda d: d.accept())
        page.click('tr[data-cam="dock"] button:has-text("Remove")')
        page.wait_for_selector(".flash.ok")
        assert page.locator('tr[data-cam="dock"]').count() == 0
    finally:
        server.stop()
