"""Helpers for the dashboard tests (imported by them; no tests here).

Isolation: every PostgreSQL test module gets its own database mw_dash_<random>, created through an
AUTOCOMMIT connection to `test` and dropped at the end; every Redis test its own key prefix, whose
keys it deletes. Schemas come from the Alembic migrations (maskwatch.storage.db.upgrade).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from maskwatch.config import Config, parse_config
from maskwatch.storage.db import upgrade
from maskwatch.storage.snapshots import SnapshotStore
from maskwatch.storage.tables import ReviewStatus, Role, User, Verdict, Violation
from maskwatch.storage.users import add_user
from maskwatch.wire import live as wire_live
from support.detections import solid_jpeg
from support.settings import REDIS_URL

PASSWORD = "correct-horse-42"
FAST_HASH = "pbkdf2:sha256:1000"  # test users only: werkzeug's default scrypt costs ~0.1 s a hash
T0 = dt.datetime(2025, 3, 10, 8, 0, tzinfo=dt.UTC)


def open_bus(prefix: str):
    """A RedisBus on its own prefix; skips without a server."""
    from maskwatch.bus import RedisBus

    return RedisBus(REDIS_URL, prefix)


def drop_prefix(bus, prefix: str) -> None:
    keys = list(bus.r.scan_iter(match=f"{prefix}:*", count=500))
    if keys:
        bus.r.delete(*keys)


def dashboard_config(db_url: str, snap_dir: Path, *, cameras=("cam-a", "cam-b"), redis_url: str | None = None,
                prefix: str = "mw", alerts: dict | None = None, reports: dict | None = None, **dashboard) -> Config:
    raw = {
        "site": "Test site",
        "database": {"url": db_url},
        "snapshots": {"dir": str(snap_dir)},
        "redis": {"url": redis_url, "prefix": prefix},
        "cameras": [{"id": c, "name": f"Camera {c[-1].upper()}", "url": f"rtsp://admin:hunter2@10.0.0.{i}/s"}
                    for i, c in enumerate(cameras, 1)],
        "dashboard": {"secret_key": "test-secret-" + "x" * 20, "page_size": 5, **dashboard},
        "alerts": alerts or {},
        "reports": reports or {},
    }
    return parse_config(raw, "<test>", env={})


def live_blob(camera: str, color: tuple[int, int, int] = (200, 120, 40), size: tuple[int, int] = (320, 180),
              faces=(((40, 30, 90, 95), "violation", "no mask 0.99"), ((200, 40, 240, 90), "mask", "mask 0.97")),
              captured_at: float | None = None) -> bytes:
    """A worker's live blob: a plain picture and faces as the worker labels them."""
    import time

    return wire_live.encode(wire_live.LiveFrame(
        camera, captured_at or time.time(), time.time(), size[0], size[1],
        [wire_live.LiveFace(tuple(map(float, box)), kind, text) for box, kind, text in faces], solid_jpeg(color, size)))


def violation_id(n: int) -> str:
    return hashlib.sha1(f"violation-{n}".encode()).hexdigest()[:24]


def make_violation(n: int, camera: str, first_seen: dt.datetime, *, p: float = 0.9,
                   status: ReviewStatus = ReviewStatus.pending, store: SnapshotStore | None = None,
                   verdict: Verdict = Verdict.no_mask) -> Violation:
    vid = violation_id(n)
    crop, frame = (store.relpaths(vid, first_seen) if store else (f"x/{vid}_crop.jpg", f"x/{vid}_frame.jpg"))
    if store is not None:
        store.write(crop, solid_jpeg((40, 40, 200)))
        store.write(frame, solid_jpeg((30, 160, 30), (320, 180)))
    return Violation(
        id=vid, camera_id=camera, track_id=n, first_seen=first_seen,
        last_seen=first_seen + dt.timedelta(seconds=12), p_no_mask=p, face_score=0.8, box=[10, 10, 40, 40],
        frame_width=320, frame_height=180, sightings=5, crop_path=crop, frame_path=frame,
        model_version="test-model-1", review_status=status, verdict=verdict)


def add_violations(sessions, rows: list[Violation]) -> list[Violation]:
    with sessions() as s:
        s.add_all(rows)
        s.commit()
    return rows


def make_users(sessions) -> dict[str, User]:
    return {r.value: add_user(sessions, r.value, r, PASSWORD, hash_method=FAST_HASH) for r in Role}


def login(client, user: User) -> None:
    """Log in through the session cookie (the login form itself is tested separately)."""
    from maskwatch.dashboard.auth import SessionUser
    from maskwatch.storage.users import get_user

    # as stored now: a logout or role change since `user` was read has moved its session version
    current = get_user(client.application.extensions["maskwatch"].sessions, user.id)
    with client.session_transaction() as sess:
        sess["_user_id"] = SessionUser(current).get_id()
        sess["_fresh"] = True


def csrf_token(client, path: str = "/") -> str:
    """The CSRF token from a page's meta tag, as a browser would have it."""
    html = client.get(path).get_data(as_text=True)
    marker = '<meta name="csrf-token" content="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]
