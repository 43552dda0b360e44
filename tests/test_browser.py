"""End to end: the dashboard under real gunicorn (PostgreSQL, Redis) driven by Debian's headless Chromium.

Logs in, finds a violation the test inserted, filters to it, opens it, marks it a false positive,
and looks at the stats and cameras pages; screenshots go to $MASKWATCH_ARTIFACTS or ./test-artifacts.
Playwright drives /usr/bin/chromium (its own browser download is not used); the test skips only
when that binary is missing (.ci/browser-deps.sh installs it).
"""
from __future__ import annotations

import datetime as dt
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from support.gunicorn import serving
from test_dashboard_support import (
    PASSWORD,
    add_violations,
    drop_prefix,
    jpeg,
    make_users,
    make_violation,
    pg_database,
    redis_bus,
    violation_id,
)

from maskwatch.storage.db import make_engine, session_factory
from maskwatch.storage.models import CameraHour, ReviewStatus, Violation
from maskwatch.storage.snapshots import SnapshotStore

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
TARGET = violation_id(99)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing: run .ci/browser-deps.sh")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _artifacts() -> Path:
    path = Path(os.environ.get("MASKWATCH_ARTIFACTS") or "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _seed(url: str, store: SnapshotStore, bus) -> None:
    sessions = session_factory(engine := make_engine(url))
    make_users(sessions)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rows = [make_violation(i, "cam-a", now - dt.timedelta(minutes=5 * i), p=0.8, store=store) for i in range(8)]
    rows.append(make_violation(99, "cam-b", now - dt.timedelta(minutes=42), p=0.97, store=store))
    add_violations(sessions, rows)
    hour = now.replace(minute=0, second=0)
    with sessions() as s:
        s.add_all([CameraHour(camera_id="cam-a", hour=hour, people=200, violations=8, sightings=900),
                   CameraHour(camera_id="cam-b", hour=hour, people=10, violations=1, sightings=50)])
        s.commit()
    engine.dispose()
    for cam in ("cam-a", "cam-b"):
        bus.put_hash(bus.keys.camera_status(cam), {"state": "online", "fps_read": 10, "fps_sent": 5, "fps_cap": 5,
                                                   "frames_read": 100, "frames_sent": 50,
                                                   "last_frame_at": time.time(), "updated_at": time.time() + 3600})
        bus.put_blob(bus.keys.live(cam), jpeg((200, 120, 40), (320, 180)))


def _config(tmp: Path, url: str, prefix: str, port: int) -> Path:
    path = tmp / "dashboard.yaml"
    path.write_text(yaml.safe_dump({
        "site": "Browser test site",
        "database": {"url": url},
        "snapshots": {"dir": str(tmp / "snaps")},
        "redis": {"url": "redis://127.0.0.1:6379/0", "prefix": prefix},
        "cameras": [{"id": "cam-a", "name": "Gate", "url": "rtsp://u:secret@10.1.1.1/a"},
                    {"id": "cam-b", "name": "Loading bay", "url": "rtsp://u:secret@10.1.1.2/b"}],
        "dashboard": {"host": "127.0.0.1", "port": port, "workers": 2, "threads": 2,
                      "secret_key": secrets.token_hex(16), "page_size": 5},
    }))
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    prefix = f"mwtest-{secrets.token_hex(4)}"
    bus = redis_bus(prefix)
    with pg_database() as url:
        _seed(url, SnapshotStore(tmp / "snaps"), bus)
        port = _free_port()
        log = _artifacts() / "browser-gunicorn.log"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        try:
            with serving(_config(tmp, url, prefix, port), port, log, cwd=ROOT, env=env) as base:
                yield base, url
        finally:
            drop_prefix(bus, prefix)
            bus.close()


def _loaded(page, selector: str) -> bool:
    return page.eval_on_selector(selector, "img => img.complete && img.naturalWidth > 0")


def test_operator_reviews_a_violation_in_chromium(server):
    sync_api = pytest.importorskip("playwright.sync_api")
    base, url = server
    shots = _artifacts()
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(15_000)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            _walk(page, base, shots)
        finally:
            browser.close()
    assert problems == []  # CSP violations and script errors show up here
    sessions = session_factory(engine := make_engine(url))
    with sessions() as s:
        v = s.scalar(select(Violation).where(Violation.id == TARGET))
    engine.dispose()
    assert (v.review_status, v.review_note, v.reviewed_by) == (ReviewStatus.false_positive, "poster", "operator")


def _walk(page, base: str, shots: Path) -> None:
    page.goto(f"{base}/")
    assert "/login" in page.url
    page.screenshot(path=str(shots / "01-login.png"))
    page.fill("input[name=username]", "operator")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("table.violations")
    assert page.locator("tbody tr[data-id]").count() == 5  # page_size
    page.screenshot(path=str(shots / "02-violations.png"), full_page=True)

    page.select_option("select[name=camera]", "cam-b")
    page.fill("input[name=min_conf]", "0.9")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**camera=cam-b**")
    rows = page.locator("tbody tr[data-id]")
    assert rows.count() == 1 and rows.first.get_attribute("data-id") == TARGET
    assert _loaded(page, f'tr[data-id="{TARGET}"] img')
    page.screenshot(path=str(shots / "03-filtered.png"), full_page=True)

    rows.first.locator("td a").nth(1).click()
    page.wait_for_url(f"**/violations/{TARGET}?**")
    page.wait_for_selector("img.crop")
    assert "Loading bay" in page.inner_text(".detail") and _loaded(page, "img.crop")
    page.fill("textarea[name=note]", "poster")
    page.click("button[value=false_positive]")
    page.wait_for_selector(".flash.ok")
    assert "Marked false positive." in page.inner_text(".flash.ok")
    assert page.inner_text(".detail .badge") == "false positive"
    page.screenshot(path=str(shots / "04-reviewed.png"), full_page=True)
    page.click("text=Back to the list")
    page.wait_for_url("**camera=cam-b**")

    page.click("header nav >> text=Stats")
    page.wait_for_selector("svg.chart")
    assert page.locator("svg.chart").count() == 3 and "96.0 %" in page.content()
    page.screenshot(path=str(shots / "05-stats.png"), full_page=True)

    page.click("header nav >> text=Cameras")
    page.wait_for_selector("section.cam")
    page.wait_for_function("() => [...document.querySelectorAll('img[data-live]')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    assert page.locator("section.cam .badge.online").count() == 2
    assert "secret" not in page.content()
    page.screenshot(path=str(shots / "06-cameras.png"), full_page=True)
