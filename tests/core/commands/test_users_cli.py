"""`maskwatch users add` as a newcomer types it: on the demo's database, without a terminal, or
where there is no database at all, a one-line answer and no empty database left behind."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from maskwatch.storage.db import make_engine, session_factory, upgrade
from maskwatch.storage.users import verify


def users(cwd, *args, stdin=""):
    return subprocess.run([sys.executable, "-m", "maskwatch.cli", "users", "add", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != "MASKWATCH_CONFIG"})


@pytest.mark.parametrize("args,stdin,message", [
    (["bob", "--role", "admin"], "", "no such file (the demo's is out/demo/maskwatch.db: add --demo"),
    (["bob", "--role", "admin", "--password-stdin"], "long-password-1\n", "no such file"),
])
def test_without_a_database_nothing_is_created(tmp_path, args, stdin, message):
    r = users(tmp_path, *args, stdin=stdin)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "maskwatch.db").exists()


def test_a_database_without_the_schema_is_named(tmp_path):
    (tmp_path / "maskwatch.db").touch()
    r = users(tmp_path, "bob", "--role", "admin", "--password-stdin", stdin="long-password-1\n")
    assert r.returncode == 2 and "schema at nothing, this version needs" in r.stderr
    assert "`maskwatch db upgrade` has not run yet" in r.stderr


def test_on_the_demo_database_with_and_without_a_terminal(tmp_path):
    url = f"sqlite:///{tmp_path / 'out' / 'demo' / 'maskwatch.db'}"
    upgrade(url)
    no_tty = users(tmp_path, "bob", "--role", "admin", "--demo")  # stdin is a pipe, not a terminal
    assert no_tty.returncode == 2
    assert "pipe it in with --password-stdin" in no_tty.stderr and "EOFError" not in no_tty.stderr
    ok = users(tmp_path, "bob", "--role", "admin", "--demo", "--password-stdin", stdin="long-password-1\n")
    assert ok.returncode == 0 and "user bob: created (admin)" in ok.stdout
    assert verify(session_factory(make_engine(url)), "bob", "long-password-1") is not None
