"""API tokens for machines: made by an admin and shown once, kept hashed, scoped, /api/* only, no
CSRF for token requests, revoked at once, last use shown, guesses limited like logins; on SQLite
and PostgreSQL, through the real app."""
from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys

import pytest
from sqlalchemy import select, text
from support.dashboard import (
    add_violations,
    csrf_token,
    dashboard_config,
    login,
    make_users,
    make_violation,
    violation_id,
)
from support.databases import pg_database_url, sqlite_database
from support.settings import ROOT

from maskwatch.dashboard.app import create_app
from maskwatch.membus import MemoryBus
from maskwatch.storage import tokens
from maskwatch.storage.tables import ApiToken

T0 = dt.datetime(2025, 3, 10, 9, 0, tzinfo=dt.UTC)
VID = violation_id(1)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def env(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tokens")
    if request.param == "sqlite":
        url = sqlite_database(tmp)
        yield _env(url, tmp)
    else:
        with pg_database_url() as url:
            yield _env(url, tmp)


def _env(url, tmp):
    cfg = dashboard_config(url, tmp / "snaps")
    app = create_app(cfg, bus=MemoryBus("tokens"))
    app.config.update(TESTING=True)  # CSRF stays on: token requests must pass without it
    sessions = app.extensions["maskwatch"].sessions
    users = make_users(sessions)
    add_violations(sessions, [make_violation(1, "cam-a", T0)])
    return app, users, sessions, url


def made(sessions, name: str, scope: str) -> str:
    with sessions.begin() as s:
        return tokens.create(s, name, scope, "test")[1]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_an_admin_makes_one_it_is_shown_once_and_kept_hashed(env):
    app, users, sessions, _ = env
    c = app.test_client()
    login(c, users["admin"])
    resp = c.post("/users/tokens", data={"name": "bi-tool", "scope": "read", "csrf_token": csrf_token(c, "/users")})
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    token = re.search(r'<code id="new-token">(mwt_[^<]+)</code>', resp.get_data(as_text=True)).group(1)
    assert app.test_client().get("/api/violations", headers=bearer(token)).status_code == 200
    again = c.get("/users").get_data(as_text=True)
    assert token not in again and token[:10] in again  # the hint, never the token
    with sessions() as s:
        dumped = " ".join(str(v) for row in s.execute(text("SELECT * FROM api_tokens")) for v in row)
    assert token not in dumped and tokens.digest(token) in dumped
    with sessions() as s:
        assert s.scalar(select(ApiToken.last_used_at).where(ApiToken.name == "bi-tool")) is not None


@pytest.mark.parametrize("scope, method, path, status", [
    ("read", "GET", "/api/violations", 200),
    ("read", "GET", f"/api/violations/{VID}", 200),
    ("read", "GET", "/api/stats", 200),
    ("read", "POST", f"/api/violations/{VID}/review", 403),    # a viewer's reach
    ("review", "POST", f"/api/violations/{VID}/review", 200),  # an operator's, without a CSRF token
    ("review", "GET", "/", 302),                               # a page: no token is a login there
    ("review", "GET", f"/violations/{VID}/crop.jpg", 302),
    ("review", "GET", "/users", 302),
    ("review", "POST", "/users", 302),
])
def test_what_each_scope_reaches(env, scope, method, path, status):
    app, _, sessions, _ = env
    token = made(sessions, f"rule-{scope}-{method}-{abs(hash(path)) % 10**6}", scope)
    c = app.test_client()
    kw = {"json": {"status": "confirmed", "note": "by a machine"}} if method == "POST" else {}
    resp = c.open(path, method=method, headers=bearer(token), **kw)
    assert resp.status_code == status, resp.get_data(as_text=True)[:200]
    assert "Set-Cookie" not in resp.headers  # a token request starts no session


@pytest.mark.parametrize("header, error", [
    ("Bearer mwt_" + "A" * 43, "invalid or revoked API token"),
    ("Bearer not-a-token", "invalid or revoked API token"),
    ("Basic YWRtaW46cGFzc3dvcmQ=", "login required"),
])
def test_a_bad_token_is_refused_as_such(env, header, error):
    app, *_ = env
    resp = app.test_client().get("/api/violations", headers={"Authorization": header},
                                 environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert resp.status_code == 401 and resp.get_json()["error"] == error


def test_revoking_ends_access_at_once(env):
    app, users, sessions, _ = env
    token = made(sessions, "to-revoke", "read")
    c = app.test_client()
    assert c.get("/api/stats", headers=bearer(token)).status_code == 200
    admin = app.test_client()
    login(admin, users["admin"])
    resp = admin.post("/users/tokens/to-revoke/revoke", data={"csrf_token": csrf_token(admin, "/users")})
    assert resp.status_code == 302
    assert c.get("/api/stats", headers=bearer(token)).status_code == 401
    assert "revoked" in admin.get("/users").get_data(as_text=True)


def test_a_flood_of_guesses_is_stopped_before_any_is_tried(env, caplog):
    app, _, sessions, _ = env
    good = made(sessions, "flooded", "read")
    c = app.test_client()
    where = {"REMOTE_ADDR": "10.7.7.7"}
    codes = [c.get("/api/stats", headers=bearer(f"mwt_{i:043d}"), environ_base=where).status_code for i in range(31)]
    assert codes[:30] == [401] * 30 and codes[30] == 429
    # from that address even a good token waits (else a guess could still be told apart)...
    assert c.get("/api/stats", headers=bearer(good), environ_base=where).status_code == 429
    # ...and from another it works
    assert c.get("/api/stats", headers=bearer(good), environ_base={"REMOTE_ADDR": "10.7.7.8"}).status_code == 200
    assert good not in caplog.text and "mwt_0000" not in caplog.text


def test_the_command_makes_lists_and_revokes(tmp_path):
    import yaml

    from maskwatch.storage.db import make_engine, session_factory

    url = sqlite_database(tmp_path)
    engine = make_engine(url)
    sessions = session_factory(engine)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"database": {"url": url}}))
    cli = [sys.executable, "-m", "maskwatch.cli", "tokens"]
    out = subprocess.run([*cli, "add", "vms", "--scope", "review", "-c", str(path)], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    token = re.search(r"(mwt_\S+)", out).group(1)
    with sessions.begin() as s:
        assert tokens.find(s, token).scope.value == "review"
    listed = subprocess.run([*cli, "list", "-c", str(path)], cwd=ROOT, capture_output=True, text=True).stdout
    assert "vms\treview\tlive" in listed and token not in listed
    subprocess.run([*cli, "revoke", "vms", "-c", str(path)], cwd=ROOT, check=True, capture_output=True)
    with sessions.begin() as s:
        assert tokens.find(s, token) is None
    dup = subprocess.run([*cli, "add", "vms", "--scope", "read", "-c", str(path)], cwd=ROOT, capture_output=True,
                         text=True)
    assert dup.returncode != 0 and "exists already" in dup.stderr
    engine.dispose()
