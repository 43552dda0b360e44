"""Fixtures shared by every folder: the bundled CC0 scenes, the shipped pipeline, a Redis bus of the
test's own (key prefix deleted afterwards), a
private redis-server, a migrated database (SQLite and PostgreSQL) and a small real disk."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from support.databases import pg_database_url, sqlite_database
from support.settings import DEMO_SCENES, REDIS_URL


@pytest.fixture(scope="session", autouse=True)
def test_reads_ledger(tmp_path_factory) -> Path:
    """Test splits read by the tests are counted in a ledger of the run's own, never the checkout's
    (the environment carries it to the commands tests start as processes)."""
    from maskwatch.paths import TEST_READS_ENV

    path = tmp_path_factory.mktemp("ledger") / "test-reads.jsonl"
    os.environ[TEST_READS_ENV] = str(path)
    return path


@pytest.fixture(scope="session")
def scenes_dir() -> Path:
    return DEMO_SCENES


@pytest.fixture(scope="session")
def scene_images() -> list[Path]:
    return sorted((DEMO_SCENES / "images").iterdir())


@pytest.fixture(scope="session")
def pipeline():
    from maskwatch.config import load_config
    from maskwatch.models.build import build_pipeline

    cfg = load_config(None)
    return build_pipeline(cfg.detector, cfg.classifier.model_copy(update={"backend": "tflite"}))


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of this test's own on a free loopback port, stopped by PID afterwards."""
    from support.redis_server import RedisServer

    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


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


@pytest.fixture
def bus(redis_bus):
    """The same bus under the name the events and alerts tests use."""
    return redis_bus


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A migrated database URL, once for SQLite and once for PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_database(tmp_path, "events.db")
        return
    with pg_database_url() as url:
        yield url


@pytest.fixture
def small_disk(tmp_path):
    """A real 4 MiB filesystem (tmpfs) of the test's own: retention and the disk incident meet a
    disk that really fills. Mounting needs root (CI runs as root); elsewhere the test skips."""
    import os
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs (CI runs as root): {mounted.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.fixture(scope="session")
def panning_video(tmp_path_factory):
    """(path, frames) of a short video a camera pans along a textured wall (support.make_clip)."""
    from support.make_clip import panning_wall

    path = tmp_path_factory.mktemp("pan") / "pan.avi"
    return path, panning_wall(path)


@pytest.fixture(scope="session")
def labelled_footage(tmp_path_factory):
    """(folder, truth) of annotated "real footage" made from a rendered crossing clip (two
    violators and a masked walker, faces the shipped model reads right), for `evaluate --videos`
    and `--compare --videos`: STEM.mp4, STEM.gt.txt and STEM.attributes.csv in one folder."""
    from support.footage import clip_as_footage

    from maskwatch.config import load_config
    from maskwatch.models.build import build_pipeline
    from maskwatch.models.evaluation.clips import build_clips, reads_correctly

    root = tmp_path_factory.mktemp("footage")
    cfg = load_config(None)
    vet = reads_correctly(build_pipeline(cfg.detector, cfg.classifier))
    clip = build_clips(DEMO_SCENES, root / "clips", fps_list=(5.0,), seed=1, only=("crossing",), vet=vet)[0]
    (root / "footage").mkdir()
    return root / "footage", clip_as_footage(clip, root / "footage", "crossing")
