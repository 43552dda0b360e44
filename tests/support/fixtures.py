"""Fixtures and builders for the events tests: real Redis, real PostgreSQL and SQLite, synthetic detections.

Each test gets its own Redis key prefix (deleted afterwards) and, for PostgreSQL, its own database
created from the `test` database and dropped afterwards. Import the fixtures you use by name:

    from support.fixtures import bus, db_url  # noqa: F401
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import uuid
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from maskwatch.bus import RedisBus
from maskwatch.storage.db import upgrade
from maskwatch.wire.detections import DetectionMsg, Face
from support.settings import REDIS_URL  # noqa: F401 (the tests import it from here too)

PG_HOST = os.environ.get("MASKWATCH_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("MASKWATCH_TEST_PG_PORT", "5432"))
PG_ADMIN = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=test"


def pg_url(dbname: str, port: int = PG_PORT) -> str:
    return f"postgresql+psycopg://postgres@{PG_HOST}:{port}/{dbname}"


@contextlib.contextmanager
def empty_pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database without any schema; yields its name and drops it afterwards."""
    import psycopg

    name = f"mw_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database; yields its name and drops it afterwards."""
    with empty_pg_database() as name:
        upgrade(pg_url(name))
        yield name


@pytest.fixture
def bus() -> Iterator[RedisBus]:
    b = RedisBus(REDIS_URL, f"t{uuid.uuid4().hex[:8]}")
    try:
        yield b
    finally:
        keys = list(b.r.scan_iter(f"{b.keys.prefix}:*"))
        if keys:
            b.r.delete(*keys)
        b.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> Iterator[str]:
    """A migrated database URL, once for SQLite and once for PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'events.db'}"
        upgrade(url)
        yield url
        return
    with pg_database() as name:
        yield pg_url(name)


def jpeg(img: np.ndarray, quality: int = 80) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


_CROP = jpeg(np.full((24, 20, 3), 128, np.uint8))


def frame_jpeg(width: int, height: int, boxes: list[tuple]) -> bytes:
    img = np.full((height, width, 3), 60, np.uint8)
    for x1, y1, x2, y2 in boxes:
        cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), (200, 190, 180), -1)
    return jpeg(img)


def detection(camera: str, seq: int, captured_at: float, faces: list[tuple[tuple, float]], *,
              width: int = 320, height: int = 240, threshold: float = 0.5,
              model_version: str = "test-1", embeddings: list | None = None) -> DetectionMsg:
    """A worker's message: faces are (box, p_no_mask); the frame travels only with a candidate face.
    `embeddings`: one unit vector (or None) per face, as the classifier gives them."""
    fs = [Face(tuple(float(v) for v in box), 0.9, float(p)) for box, p in faces]
    msg = DetectionMsg(camera=camera, seq=seq, captured_at=captured_at, detected_at=captured_at + 0.05,
                       worker="w-test", model_version=model_version, width=width, height=height,
                       threshold=threshold, faces=fs, crops=[_CROP] * len(fs), embeddings=embeddings or [])
    if msg.has_candidate:
        msg = dataclasses.replace(msg, frame_jpeg=frame_jpeg(width, height, [f.box for f in fs]))
    return msg
