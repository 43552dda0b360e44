"""Shared fixtures: the bundled CC0 scenes, the shipped models, a config."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from support.settings import DEMO_SCENES, REDIS_URL

pytest_plugins = ["support.browser"]


@pytest.fixture(scope="session")
def scenes_dir() -> Path:
    return DEMO_SCENES


@pytest.fixture(scope="session")
def scene_images() -> list[Path]:
    return sorted((DEMO_SCENES / "images").iterdir())


@pytest.fixture(scope="session")
def pipeline():
    from maskwatch.config import load_config
    from models.build import build_pipeline

    cfg = load_config(None)
    return build_pipeline(cfg.detector, cfg.classifier.model_copy(update={"backend": "tflite"}))




@pytest.fixture
def redis_prefix():
    """A key prefix of this test's own; every key under it is deleted afterwards."""
    import uuid

    import redis

    prefix = f"mwtest-{uuid.uuid4().hex[:10]}"
    yield prefix
    r = redis.Redis.from_url(REDIS_URL)
    for key in r.scan_iter(f"{prefix}:*", count=500):
        r.delete(key)
    r.close()


@pytest.fixture
def redis_bus(redis_prefix):
    from maskwatch.bus import RedisBus

    bus = RedisBus(REDIS_URL, redis_prefix)
    yield bus
    bus.close()
