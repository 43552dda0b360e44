"""Fixtures of the dashboard's tests: a seeded site under real gunicorn and Debian's headless
Chromium (support/browser.py builds them)."""
from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def _served(tmp, log_name: str) -> Iterator[Site]:
    """A seeded site (PostgreSQL, Redis under a prefix of its own) under the real gunicorn."""
    prefix = f"mwtest-{secrets.token_hex(4)}"
    bus = open_bus(prefix)
    store = SnapshotStore(tmp / "snaps")
    with pg_database_url() as url:
        seed_site(url, store)
        port = free_port()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        try:
            with serving(site_config(tmp, url, prefix, port), port, artifacts() / log_name, cwd=ROOT,
                         env=env) as base:
                site = Site(base, url, bus, store)
                site.report_live()
                yield site
        finally:
            drop_prefix(bus, prefix)
            bus.close()


@pytest.fixture(scope="session")
def browser_site(tmp_path_factory) -> Iterator[Site]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing: run .ci/browser-deps.sh")
    with _served(tmp_path_factory.mktemp("browser"), "browser-gunicorn.log") as site:
        yield site


@pytest.fixture(scope="module")
def api_site(tmp_path_factory) -> Iterator[Site]:
    """The API under the real gunicorn, for the contract tests (no browser needed)."""
    with _served(tmp_path_factory.mktemp("api"), "api-gunicorn.log") as site:
        yield site


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
