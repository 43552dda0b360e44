"""`maskwatch db wait` and concurrent `db upgrade`s, against the real PostgreSQL.

What a Kubernetes site runs: init containers that wait for the schema (dashboard) or migrate
(events, every shard at once), so nothing starts against a database without its tables.
"""
from __future__ import annotations

import subprocess
import sys
import time
import uuid
from contextlib import contextmanager

import psycopg
import pytest
import yaml
from support.databases import empty_pg_database, pg_url
from support.rtsp import free_port

from maskwatch.storage.db import head_revision, schema_revision


@contextmanager
def empty_database():
    with empty_pg_database() as name:
        yield pg_url(name)


def db_command(tmp_path, url, *args, wait=True):
    path = tmp_path / f"{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump({"database": {"url": url}}))
    cmd = [sys.executable, "-m", "maskwatch.cli", "db", *args, "-c", str(path)]
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_wait_gives_up_on_a_database_without_the_schema_in_one_line(tmp_path):
    with empty_database() as url:
        r = db_command(tmp_path, url, "wait", "--timeout", "1")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"schema at nothing, this version needs {head_revision()}" in r.stderr
    assert "`maskwatch db upgrade` has not run yet" in r.stderr


def test_wait_gives_up_on_an_unreachable_database(tmp_path):
    r = db_command(tmp_path, f"postgresql+psycopg://maskwatch:hunter2@127.0.0.1:{free_port()}/x",
                   "wait", "--timeout", "1")
    assert r.returncode == 2 and "not reachable (OperationalError)" in r.stderr
    assert "hunter2" not in r.stderr


def test_wait_returns_once_the_upgrade_has_run(tmp_path):
    with empty_database() as url:
        waiting = db_command(tmp_path, url, "wait", "--timeout", "60", wait=False)
        try:
            time.sleep(2.0)
            assert waiting.poll() is None, waiting.communicate()
            assert db_command(tmp_path, url, "upgrade").returncode == 0
            out, err = waiting.communicate(timeout=30)
        finally:
            if waiting.poll() is None:
                waiting.kill()
                waiting.wait()
    assert waiting.returncode == 0, err
    assert f"schema at {head_revision()}, ready" in out


def test_concurrent_upgrades_of_a_fresh_database_all_succeed(tmp_path):
    with empty_database() as url:
        procs = [db_command(tmp_path, url, "upgrade", wait=False) for _ in range(3)]
        results = [(p.wait(120), p.communicate()) for p in procs]
        assert schema_revision(url) == head_revision()
        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
            admins = conn.execute("SELECT count(*) FROM users").fetchone()[0]
            versions = conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0]
    assert [rc for rc, _ in results] == [0, 0, 0], [err[-800:] for _, (_, err) in results]
    assert versions == 1 and admins == 1  # one first admin, not one per process


@pytest.mark.parametrize("action", ["wait", "upgrade"])
def test_db_actions_parse(action):
    from maskwatch.cli import build_parser

    args = build_parser().parse_args(["db", action, "--timeout", "5"])
    assert args.action == action and args.timeout == 5.0
