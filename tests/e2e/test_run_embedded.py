"""`maskwatch run --demo`: the whole pipeline in one process on the in-process bus and SQLite,
with the dashboard embedded, as `make demo` runs it."""
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from sqlalchemy import func, select
from support.rtsp import free_port
from support.settings import ROOT

from maskwatch.storage.db import make_engine, session_factory
from maskwatch.storage.tables import Violation


@pytest.mark.slow
def test_demo_runs_end_to_end_without_redis(tmp_path):
    port = free_port()
    env = {**os.environ, "MASKWATCH_ADMIN_PASSWORD": "demo-password-1"}
    proc = subprocess.Popen([sys.executable, "-m", "maskwatch.cli", "run", "--demo", "--port", str(port),
                             "--out", str(tmp_path / "demo")], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    engine = None
    try:
        line, start = "", []
        while "maskwatch dashboard:" not in line:
            line = proc.stdout.readline()
            start.append(line)
            assert line or proc.poll() is None, "run exited early"
        assert f":{port}/" in line  # --port, no YAML needed
        assert proc.stdout.readline().strip() == "log in as admin with the password in MASKWATCH_ADMIN_PASSWORD"
        assert not [x for x in start if "alembic" in x], start  # the banner comes after quiet start-up lines
        url = re.search(r"http://\S+", line).group(0)
        with urllib.request.urlopen(url + "healthz", timeout=10) as health:
            assert health.status == 200
            assert health.headers["Server"] == "maskwatch"  # no Werkzeug/x.y Python/3.z banner
        engine = make_engine(f"sqlite:///{tmp_path / 'demo' / 'maskwatch.db'}")
        sessions = session_factory(engine)
        deadline = time.monotonic() + 90
        count = 0
        while time.monotonic() < deadline and not count:
            with sessions() as s:
                count = s.scalar(select(func.count()).select_from(Violation))
            time.sleep(1)
        assert count >= 1
        with sessions() as s:
            v = s.scalars(select(Violation)).first()
        assert (tmp_path / "demo" / "snapshots" / v.crop_path).is_file()
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        if engine:
            engine.dispose()
    assert proc.returncode == 0, out[-2000:]
