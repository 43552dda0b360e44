"""Fixtures of the dashboard's tests: a seeded site under real gunicorn and Debian's headless
Chromium (support/browser.py builds them)."""
from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from support.browser import ARGS, CHROMIUM, Site, Tab, artifacts, seed_site, site_config
from support.dashboard import drop_prefix, open_bus
from support.databases import pg_database_url
from support.gunicorn import serving
from support.rtsp import free_port
from support.settings import ROOT

from maskwatch.storage.snapshots import SnapshotStore


@pytest.fixture(scope="session")
def browser_site(tmp_path_factory) -> Iterator[Site]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing: run .ci/browser-deps.sh")
    tmp = tmp_path_factory.mktemp("browser")
    prefix = f"mwtest-{secrets.token_hex(4)}"
    bus = open_bus(prefix)
    store = SnapshotStore(tmp / "snaps")
    with pg_database_url() as url:
        seed_site(url, store)
        port = free_port()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        try:
            with serving(site_config(tmp, url, prefix, port), port, artifacts() / "browser-gunicorn.log", cwd=ROOT,
                         env=env) as base:
                site = Site(base, url, bus, store)
                site.report_live()
                yield site
        finally:
            drop_prefix(bus, prefix)
            bus.close()


@pytest.fixture(scope="session")
def chromium():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing: run .ci/browser-deps.sh")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def tab(chromium, browser_site):
    t = Tab(chromium, browser_site.base, permissions=["notifications"])
    yield t
    t.close()
    assert t.problems == []  # CSP violations and script errors show up here
