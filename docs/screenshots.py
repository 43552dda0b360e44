"""Regenerate the README screenshots: `maskwatch run --demo` for a minute, then headless Chromium.

usage: .venv/bin/python docs/screenshots.py   (needs Debian's /usr/bin/chromium)
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "screenshot-demo-1"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


def main() -> int:
    out = Path(tempfile.mkdtemp(prefix="mw-shots-"))
    cfg = out / "mw.yaml"
    cfg.write_text("site: Demo site\ndashboard:\n  port: 18080\n")
    env = {**os.environ, "MASKWATCH_ADMIN_PASSWORD": PASSWORD}
    proc = subprocess.Popen([sys.executable, "-m", "maskwatch.cli", "--log-level", "WARNING", "run", "--demo",
                             "-c", str(cfg), "--out", str(out / "demo")], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = ""
        while "maskwatch dashboard:" not in line:
            line = proc.stdout.readline()
        url = re.search(r"http://\S+", line).group(0)
        time.sleep(float(os.environ.get("SHOTS_WAIT_S", "75")))  # let violations accumulate
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1300, "height": 760})
            page.goto(url + "login")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            for name, path in (("violations", ""), ("stats", "stats"), ("cameras", "cameras")):
                page.goto(url + path)
                page.wait_for_timeout(1500)
                page.screenshot(path=str(ROOT / "docs" / f"screenshot-{name}.png"), full_page=False)
            browser.close()
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
