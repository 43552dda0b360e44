"""A seeded dashboard under real gunicorn (PostgreSQL, Redis) and Debian's headless Chromium, for
the browser tests (their fixtures are in tests/dashboard/conftest.py).

The site: two online cameras with live frames and a worker reporting them, a third camera that is
offline, one with a long name; violations and compliance counts. Playwright drives
/usr/bin/chromium (its own browser download is not used); the tests skip only when that binary is
missing (.ci/browser-deps.sh installs it). Screenshots go to $MASKWATCH_ARTIFACTS or ./test-artifacts.
"""
from __future__ import annotations

import datetime as dt
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from maskwatch.clipvideo import encode_clip
from maskwatch.storage.db import make_engine, session_factory
from maskwatch.storage.snapshots import SnapshotStore
from maskwatch.storage.tables import CameraHour, ReportRun
from maskwatch.wire.clip_requests import ClipFrame
from support.dashboard import (
    PASSWORD,
    add_violations,
    drop_prefix,
    live_blob,
    make_users,
    make_violation,
    open_bus,
    violation_id,
)
from support.databases import pg_database_url
from support.gunicorn import serving
from support.rtsp import free_port
from support.settings import REDIS_URL, ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic", "--autoplay-policy=no-user-gesture-required"]
TARGET = violation_id(99)
LONG_NAME = "Loading bay north - service entrance beside the staff car park"
# two faces side by side: their labels would overlap in a small tile, so one must move or hide
FACES = (((40, 60, 80, 110), "violation", "no mask 0.99"), ((84, 62, 124, 112), "mask", "mask 0.97"),
         ((220, 40, 270, 100), "unsure", "no mask 0.62"))
ZONE = {"name": "turnstiles", "polygon": [[0.1, 0.5], [0.6, 0.5], [0.6, 1.0], [0.1, 1.0]]}
CAMERAS = [("cam-a", "Gate"), ("cam-b", "Loading bay"), ("cam-c", "Car park (offline)"), ("cam-long", LONG_NAME)]


@dataclass
class Site:
    base: str
    db_url: str
    bus: object
    store: SnapshotStore

    def sessions(self):
        return session_factory(make_engine(self.db_url))

    def report_live(self) -> None:
        """What ingest and a worker would be writing now: cam-a and cam-b online with fresh frames,
        cam-c offline with its reason, and a worker that finished a frame of each 0.5 s ago."""
        now, bus = time.time(), self.bus
        for cam in ("cam-a", "cam-b", "cam-long"):
            bus.put_hash(bus.keys.camera_status(cam), {"state": "online", "fps_read": 10, "fps_sent": 5, "fps_cap": 5,
                                                       "frames_read": 100, "frames_sent": 50, "last_frame_at": now,
                                                       "updated_at": now + 3600})
            bus.put_blob(bus.keys.live(cam), live_blob(cam, faces=FACES, captured_at=now - 0.5))
        bus.put_hash(bus.keys.camera_status("cam-c"), {
            "state": "offline", "last_error": "cannot open rtsp://***@10.1.1.3/c: connection refused",
            "reconnects": 4, "updated_at": now + 3600})
        bus.put_hash(bus.keys.worker_status("w1"), {
            "state": "running", "updated_at": now + 3600, "processed": 150, "processed:cam-a": 50,
            "processed:cam-b": 50, "processed:cam-long": 50, **{f"frame_ts:{c}": now - 0.5 for c in
                                                               ("cam-a", "cam-b", "cam-long")}})


def artifacts() -> Path:
    path = Path(os.environ.get("MASKWATCH_ARTIFACTS") or "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def clip_mp4() -> bytes:
    """A 2 s clip of a face-sized square crossing the frame, as ingest would make it."""
    frames = []
    for i in range(10):
        img = np.full((180, 320, 3), 70, np.uint8)
        cv2.rectangle(img, (20 + 25 * i, 60), (60 + 25 * i, 110), (180, 190, 200), -1)
        frames.append((ClipFrame(i / 5, (20 + 25 * i, 60, 60 + 25 * i, 110)), cv2.imencode(".jpg", img)[1].tobytes()))
    return encode_clip(frames)[0]


def seed_site(url: str, store: SnapshotStore) -> None:
    sessions = session_factory(engine := make_engine(url))
    make_users(sessions)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rows = [make_violation(i, "cam-a", now - dt.timedelta(minutes=5 * i), p=0.8, store=store) for i in range(8)]
    rows.append(make_violation(99, "cam-b", now - dt.timedelta(minutes=42), p=0.97, store=store))
    target = rows[-1]
    target.clip_path = store.clip_relpath(target.crop_path, target.id)
    store.write(target.clip_path, clip_mp4())
    add_violations(sessions, rows)
    hour = now.replace(minute=0, second=0)
    with sessions() as s:
        s.add_all([CameraHour(camera_id="cam-a", hour=hour, people=200, violations=8, sightings=900),
                   CameraHour(camera_id="cam-b", hour=hour, people=10, violations=1, sightings=50, watched_s=600),
                   CameraHour(camera_id="cam-long", hour=hour, people=40, violations=4, sightings=90)])
        # last week's report, sent this Monday (the site is UTC)
        monday = dt.datetime.combine(now.date() - dt.timedelta(days=now.weekday()), dt.time(), dt.UTC)
        s.add(ReportRun(name="weekly", period_start=monday - dt.timedelta(days=7),
                        sent_at=monday + dt.timedelta(hours=7), recipients=1))
        s.add(CameraHour(camera_id="cam-long", hour=monday - dt.timedelta(days=5), people=30, violations=3,
                         sightings=60, watched_s=7 * 12 * 3600))  # half of last week watched
        s.commit()
    engine.dispose()


def site_config(tmp: Path, url: str, prefix: str, port: int) -> Path:
    path = tmp / "dashboard.yaml"
    path.write_text(yaml.safe_dump({
        "site": "Browser test site",
        "database": {"url": url},
        "snapshots": {"dir": str(tmp / "snaps")},
        "redis": {"url": REDIS_URL, "prefix": prefix},
        "cameras": [{"id": cam, "name": name, "url": f"rtsp://u:secret@10.1.1.{i}/{cam}",
                     **({"policy": {"zones": [ZONE]}} if cam == "cam-a" else {})}
                    for i, (cam, name) in enumerate(CAMERAS, 1)],
        "dashboard": {"host": "127.0.0.1", "port": port, "workers": 2, "threads": 2,
                      "secret_key": secrets.token_hex(16), "page_size": 5},
        # a weekly report for the site's BI webhook (never delivered here: the dashboard only shows it)
        "alerts": {"sinks": [{"type": "webhook", "name": "bi", "url": "http://127.0.0.1:9/r", "kinds": ["report"]}]},
        "reports": {"schedule": [{"name": "weekly", "every": "week"}]},
    }))
    return path


class Tab:
    """A page in a context of its own (its own cookies), collecting script errors and requests."""

    def __init__(self, browser, base: str, **context):
        self.context = browser.new_context(viewport={"width": 1400, "height": 900}, **context)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.base, self.problems, self.requests = base, [], []
        self.page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def login(self, user: str = "operator") -> None:
        self.page.goto(f"{self.base}/login")
        self.page.fill("input[name=username]", user)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_selector("table.violations")

    def close(self) -> None:
        self.context.close()
