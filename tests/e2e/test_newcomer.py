"""The README's newcomer path, run exactly as written: its "terminal 1" block (`make demo`) and, while
the demo runs, its "terminal 2" block, in a copy of the repository; then the people it promises can
log in, and Ctrl-C stops the demo.

The copy shares this checkout's .venv (installing it again would only repeat `make install`, which
CI runs itself); the copy keeps the files' times, so make sees the install as current. Make is
asked first (`make -q install`): were it to reinstall, it would point the shared .venv's editable
install at the copy, which is deleted afterwards, so then the test stops instead.
"""
from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support.http import Browser
from support.rtsp import free_port
from support.settings import ROOT

BLOCK = re.compile(r"<!-- newcomer: (terminal \d) -->\n```\n(.*?)```", re.S)
BANNER_URL = re.compile(r"maskwatch dashboard: (http://\S+)")
BANNER_PASSWORD = re.compile(r"log in as admin with password (\S+)")


def blocks() -> dict[str, str]:
    return dict(BLOCK.findall((ROOT / "README.md").read_text()))


def _copy_repository(dst: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name)
    (dst / ".venv").symlink_to(ROOT / ".venv")


def _read_banner(proc: subprocess.Popen, seen: list[str], timeout_s: float = 240) -> tuple[str, str]:
    url = password = None
    deadline = time.monotonic() + timeout_s
    while (url is None or password is None) and time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("make demo exited with %s:\n%s" % (proc.returncode, "".join(seen[-40:])))
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if not ready:
            continue
        line = proc.stdout.readline()
        seen.append(line)
        url = url or (m.group(1) if (m := BANNER_URL.search(line)) else None)
        password = password or (m.group(1) if (m := BANNER_PASSWORD.search(line)) else None)
    assert url and password, "no dashboard URL and password in:\n" + "".join(seen[-40:])
    return url, password


def _wait_for_violation(browser: Browser, timeout_s: float = 180) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        items = browser.get_json("/api/violations")["items"]
        if items:
            return items
        time.sleep(2)
    pytest.fail("no violation on the demo's dashboard")


@pytest.mark.skipif(not (ROOT / ".venv" / ".installed").exists(), reason="needs `make install` (.venv)")
def test_the_readme_newcomer_path_works_as_written(tmp_path):
    steps = blocks()
    assert list(steps) == ["terminal 1", "terminal 2"], steps
    assert steps["terminal 1"].strip() == "make demo"
    repo = tmp_path / "maskwatch"
    _copy_repository(repo)
    if subprocess.run(["make", "-q", "install"], cwd=repo, capture_output=True).returncode != 0:
        pytest.fail("the .venv is older than pyproject.toml: run `make install` first (the test must not "
                    "reinstall this checkout's .venv from a copy)")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASKWATCH_")}
    env["DEMO_PORT"] = str(port)  # the Makefile's default is 8000, which this machine may already use
    demo = subprocess.Popen(["bash", "-c", steps["terminal 1"]], cwd=repo, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen: list[str] = []
    try:
        url, admin_password = _read_banner(demo, seen)
        assert url == f"http://127.0.0.1:{port}/"
        second = subprocess.run(["bash", "-euo", "pipefail", "-c", steps["terminal 2"]], cwd=repo, env=env,
                                capture_output=True, text=True, timeout=240)
        assert second.returncode == 0, second.stdout + second.stderr
        assert re.search(r"maksssksksss114\.jpg.*(no_mask|mask)", second.stdout), second.stdout
        assert "mysite.yaml: OK (1 camera, time zone Europe/London" in second.stdout, second.stdout

        admin = Browser(url)
        assert admin.login("admin", admin_password) == 200
        violation = _wait_for_violation(admin)[0]
        assert violation["camera_id"] == "demo"
        alice_password = re.search(r"printf '%s\\n' '([^']+)' \| ", steps["terminal 2"]).group(1)
        alice = Browser(url)
        assert alice.login("alice", alice_password) == 200
        assert "(operator)" in alice.get_text("/") and "Wall" in alice.get_text("/wall")
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C in terminal 1: make and the demo under it
        try:
            demo.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    assert demo.returncode in (0, 2, 130, -signal.SIGINT), "".join(seen[-40:])
    assert (repo / "out" / "demo" / "maskwatch.db").is_file() and not (repo / "maskwatch.db").exists()
