"""The dashboard under the real gunicorn (`python -m dashboard.serve CONFIG`), for tests that need
its processes: started, waited for until /healthz answers 200, stopped by PID."""
from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def unverified() -> ssl.SSLContext:
    return ssl._create_unverified_context()  # a self-signed certificate made at first start


@contextlib.contextmanager
def serving(config: Path, port: int, log: Path, *, https: bool = False, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> Iterator[str]:
    """Yields the base URL of a healthy dashboard; gunicorn's master stops its workers on SIGTERM."""
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "maskwatch.dashboard.serve", str(config)],
                                cwd=cwd or config.parent, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"{'https' if https else 'http'}://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc, log, unverified() if https else None)
        yield base
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_healthy(base: str, proc: subprocess.Popen, log: Path, context: ssl.SSLContext | None) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"gunicorn exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2, context=context) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"dashboard not healthy at {base} after 30 s:\n{log.read_text()[-3000:]}")
