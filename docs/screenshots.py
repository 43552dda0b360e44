"""Regenerate the README screenshots: `maskwatch run --demo` on three cameras playing the demo clip
(and a fourth that cannot be reached) for a while, then headless Chromium on the violation list, a
violation, the stats and the camera wall.

usage: .venv/bin/python docs/screenshots.py   (needs Debian's /usr/bin/chromium; SHOTS_WAIT_S=75)
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from maskwatch.commands.run import DEMO_PHOTOS, DEMO_SCENES  # noqa: E402
from maskwatch.models.evaluation.democlip import build_clip  # noqa: E402

PASSWORD = "screenshot-demo-1"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
CAMERAS = [("gate-north", "North gate"), ("concourse", "Main concourse, platforms 1-4"), ("ticket-hall", "Ticket hall")]


def _config(out: Path) -> Path:
    clip = build_clip([DEMO_SCENES / p for p in DEMO_PHOTOS], out / "demo.avi")
    cams = [{"id": cid, "name": name, "url": str(clip), "fps": 2} for cid, name in CAMERAS]
    # a camera that is not there: its tile says so
    cams.append({"id": "car-park", "name": "Car park", "url": "rtsp://127.0.0.1:9/none", "fps": 2})
    path = out / "mw.yaml"
    path.write_text(yaml.safe_dump({"site": "Central Station (demo)", "timezone": "Europe/London", "cameras": cams,
                                    "ingest": {"open_timeout_s": 2}, "dashboard": {"port": 18080}}))
    return path


def _shoot(url: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 760})
        page.goto(url + "login")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("table.violations")
        page.screenshot(path=str(ROOT / "docs" / "screenshot-violations.png"))
        page.locator("tbody tr[data-id] td a").nth(1).click()
        page.wait_for_selector("img.crop")
        page.wait_for_timeout(500)
        page.screenshot(path=str(ROOT / "docs" / "screenshot-detail.png"))
        page.goto(url + "stats")
        page.wait_for_selector("svg[data-bucket]")
        page.screenshot(path=str(ROOT / "docs" / "screenshot-stats.png"), full_page=True)
        page.goto(url + "wall?n=4")
        page.wait_for_function("() => [...document.querySelectorAll('.tile[data-online=\"1\"]')]"
                               ".every(t => Number(t.dataset.frames || 0) > 1)", timeout=30_000)
        page.screenshot(path=str(ROOT / "docs" / "screenshot-wall.png"))
        browser.close()


def main() -> int:
    out = Path(tempfile.mkdtemp(prefix="mw-shots-"))
    env = {**os.environ, "MASKWATCH_ADMIN_PASSWORD": PASSWORD}
    proc = subprocess.Popen([sys.executable, "-m", "maskwatch.cli", "--log-level", "WARNING", "run", "--demo",
                             "-c", str(_config(out)), "--out", str(out / "demo")], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = None
        while url is None:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                raise SystemExit(f"maskwatch run exited with {proc.returncode}")
            m = re.search(r"(https?://\S+/)", line)
            url = m.group(1) if m and "dashboard" in line.lower() else None
        time.sleep(float(os.environ.get("SHOTS_WAIT_S", "75")))  # let violations accumulate
        _shoot(url)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
