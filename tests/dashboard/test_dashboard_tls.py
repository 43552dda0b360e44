"""HTTPS out of the box, and a plain-HTTP login that says what is wrong instead of "form expired".

The real path: `python -m dashboard.serve` (gunicorn) with dashboard.tls on and no certificate,
as a fresh compose site starts it; a client logs in over HTTPS with the Secure cookies it got.
"""
from __future__ import annotations

import http.cookiejar
import os
import re
import stat
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from support.dashboard import dashboard_config
from support.databases import sqlite_database
from support.gunicorn import serving, unverified
from support.rtsp import free_port
from support.settings import ROOT

from maskwatch.config import ConfigError
from maskwatch.dashboard.app import create_app
from maskwatch.dashboard.errors import INSECURE_MESSAGE
from maskwatch.dashboard.tls import certificate_files
from maskwatch.membus import MemoryBus
from maskwatch.storage.db import make_engine, session_factory
from maskwatch.storage.users import ensure_first_admin

PASSWORD = "first-login-works-1"


def tls_config(tmp_path, **extra):
    return dashboard_config(sqlite_database(tmp_path), tmp_path / "s", tls=True,
                            tls_cert=str(tmp_path / "tls/cert.pem"), tls_key=str(tmp_path / "tls/key.pem"), **extra)


def test_the_first_start_makes_a_self_signed_pair_and_later_ones_keep_it(tmp_path):
    from cryptography import x509

    cfg = tls_config(tmp_path, tls_hosts=["cctv.site.example", "10.20.0.5"])
    cert, key = certificate_files(cfg.dashboard, cfg.site)
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    parsed = x509.load_pem_x509_certificate(Path(cert).read_bytes())
    sans = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "cctv.site.example"} <= set(sans.get_values_for_type(x509.DNSName))
    assert {"127.0.0.1", "10.20.0.5"} <= {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    before = Path(cert).read_bytes()
    assert certificate_files(cfg.dashboard, cfg.site) == (cert, key) and Path(cert).read_bytes() == before


def test_a_certificate_without_its_key_is_refused(tmp_path):
    cfg = tls_config(tmp_path)
    Path(cfg.dashboard.tls_cert).parent.mkdir(parents=True)
    Path(cfg.dashboard.tls_cert).write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(ConfigError, match="must both exist"):
        certificate_files(cfg.dashboard, cfg.site)


@pytest.mark.parametrize("base_url,warned", [("http://localhost", True), ("https://localhost", False)])
def test_secure_cookies_over_plain_http_say_why_the_login_cannot_work(tmp_path, base_url, warned):
    app = create_app(dashboard_config(sqlite_database(tmp_path), tmp_path / "s", secure_cookies=True),
                     bus=MemoryBus("insecure"))
    client = app.test_client()
    page = client.get("/login", base_url=base_url).get_data(as_text=True)
    assert ("MASKWATCH_SECURE_COOKIES=false" in page) is warned
    refused = client.post("/login", base_url=base_url, data={"username": "admin", "password": "x"})
    assert refused.status_code == 400
    body = refused.get_data(as_text=True)
    assert ("Open it with https://" in body) is warned and ("The form expired" in body) is not warned


@pytest.mark.parametrize("secure", [True, False])
def test_hsts_only_when_cookies_are_secure(tmp_path, secure):
    app = create_app(dashboard_config(sqlite_database(tmp_path), tmp_path / "s", secure_cookies=secure),
                     bus=MemoryBus("hsts"))
    resp = app.test_client().get("/login", base_url="https://localhost")
    assert ("Strict-Transport-Security" in resp.headers) is secure
    if secure:
        assert resp.headers["Strict-Transport-Security"] == "max-age=31536000"


@pytest.fixture
def https_dashboard(tmp_path):
    cfg = tls_config(tmp_path, port=free_port(), host="127.0.0.1", workers=2, threads=2)
    ensure_first_admin(session_factory(make_engine(cfg.database.url)), {"MASKWATCH_ADMIN_PASSWORD": PASSWORD})
    path = tmp_path / "maskwatch.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    with serving(path, cfg.dashboard.port, tmp_path / "gunicorn.log", https=True) as base:
        yield base, path, cfg


def test_the_first_login_of_a_fresh_site_works_over_https(https_dashboard):
    base, _, cfg = https_dashboard
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=unverified()),
                                         urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/login", timeout=10).read().decode()
    assert "MASKWATCH_SECURE_COOKIES" not in page
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"csrf_token": token, "username": "admin", "password": PASSWORD}).encode()
    # a browser sends the Referer that CSRF's strict HTTPS check wants
    home = opener.open(urllib.request.Request(f"{base}/login", data=form, headers={"Referer": f"{base}/login"}),
                       timeout=10)
    assert home.status == 200 and urllib.parse.urlsplit(home.url).path == "/"
    assert all(c.secure for c in jar), [c.name for c in jar if not c.secure]
    assert "Log out" in home.read().decode()
    with pytest.raises(OSError):  # the port speaks TLS only (a plain request is dropped)
        urllib.request.urlopen(f"http://127.0.0.1:{cfg.dashboard.port}/healthz", timeout=5).read()


def test_the_container_healthcheck_probes_https(https_dashboard):
    _, path, _ = https_dashboard
    r = subprocess.run([sys.executable, str(ROOT / "deploy" / "healthcheck.py"), "dashboard"], capture_output=True,
                       text=True, env={**os.environ, "MASKWATCH_CONFIG": str(path)}, timeout=30)
    assert r.returncode == 0, r.stderr
