"""The login limit under the real gunicorn with two worker processes and no Redis: the counters
are in PostgreSQL, so five failures are five whichever worker answered each."""
from __future__ import annotations

import pytest
import yaml
from support.dashboard import dashboard_config
from support.databases import pg_database, pg_url
from support.gunicorn import serving
from support.http import Browser
from support.rtsp import free_port

from maskwatch.storage.db import make_engine, session_factory
from maskwatch.storage.users import add_user

PASSWORD = "gunicorn-login-1"


@pytest.fixture
def dashboard(tmp_path):
    with pg_database() as name:
        cfg = dashboard_config(pg_url(name), tmp_path / "s", port=free_port(), host="127.0.0.1", workers=2, threads=2)
        engine = make_engine(cfg.database.url)
        add_user(session_factory(engine), "admin", "admin", PASSWORD)
        engine.dispose()
        path = tmp_path / "maskwatch.yaml"
        path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
        with serving(path, cfg.dashboard.port, tmp_path / "gunicorn.log") as base:
            yield base


def attempt(base: str, password: str) -> int:
    """One browser-like login on a fresh connection (so the kernel may pick either worker)."""
    return Browser(base).login("admin", password)


def test_five_failures_block_the_sixth_attempt_on_every_worker(dashboard):
    assert [attempt(dashboard, "wrong-password") for _ in range(5)] == [401] * 5
    assert [attempt(dashboard, PASSWORD) for _ in range(6)] == [429] * 6
