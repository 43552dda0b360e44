"""Logging in, rate limiting (in-process and in Redis), sessions ending, and the users page."""
from __future__ import annotations

import logging
import secrets

import pytest
from sqlalchemy import delete
from support.dashboard import PASSWORD, dashboard_config, drop_prefix, login, make_users, open_bus
from support.databases import sqlite_database

from maskwatch.dashboard.app import create_app
from maskwatch.dashboard.limiter import DatabaseLimiter
from maskwatch.membus import MemoryBus
from maskwatch.storage.tables import LoginCounter, Role
from maskwatch.storage.users import list_users, update_user


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("auth")
    url = sqlite_database(tmp)
    app = create_app(dashboard_config(url, tmp / "snaps"), bus=MemoryBus("auth"))
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    sessions = app.extensions["maskwatch"].sessions
    return app, make_users(sessions), sessions, url, tmp


@pytest.fixture
def app(env):
    app = env[0]
    sessions = app.extensions["maskwatch"].sessions
    with sessions.begin() as s:  # every test starts with no failures
        s.execute(delete(LoginCounter))
    app.extensions["maskwatch"].limiter = DatabaseLimiter(sessions)
    return app


def _login(client, name: str, password: str, **extra):
    return client.post("/login", data={"username": name, "password": password, **extra})


def test_login_redirects_back_and_logout_ends_the_session(app):
    client = app.test_client()
    first = client.get("/stats?from=2025-01-01")
    assert first.status_code == 302
    login_page = client.get(first.headers["Location"]).get_data(as_text=True)
    assert 'name="next" value="/stats?from=2025-01-01"' in login_page
    resp = _login(client, "viewer", PASSWORD, next="/stats?from=2025-01-01")
    assert resp.status_code == 302 and resp.headers["Location"] == "/stats?from=2025-01-01"
    assert client.get("/stats").status_code == 200
    assert client.get("/login").status_code == 302  # already logged in
    assert client.post("/logout").status_code == 302
    assert client.get("/stats").status_code == 302


def _added_by_an_admin(app, users, name: str, role: str, password: str) -> None:
    admin = app.test_client()
    login(admin, users["admin"])
    assert admin.post("/users", data={"username": name, "role": role, "password": password}).status_code == 302


def _cookie(client) -> str:
    return client.get_cookie("maskwatch_session").value


def _replay(app, cookie: str):
    """A new client with a session cookie captured earlier, as an attacker would hold it."""
    thief = app.test_client()
    thief.set_cookie("maskwatch_session", cookie)
    return thief


def test_a_cookie_captured_before_logout_is_refused_after_it(env, app):
    _, users, sessions, _, _ = env
    _added_by_an_admin(app, users, "shift", "operator", "night-shift-1")
    client = app.test_client()
    assert _login(client, "shift", "night-shift-1").status_code == 302
    captured = _cookie(client)
    assert _replay(app, captured).get("/api/violations").status_code == 200  # it was a live session
    assert client.post("/logout").status_code == 302
    assert _replay(app, captured).get("/api/violations").status_code == 401
    assert _replay(app, captured).get("/").status_code == 302


def test_a_role_change_ends_the_users_sessions(env, app):
    _, users, sessions, _, _ = env
    client = app.test_client()
    assert _login(client, "viewer", PASSWORD).status_code == 302
    captured = _cookie(client)
    viewer = next(u for u in list_users(sessions) if u.username == "viewer")
    update_user(sessions, viewer.id, role="operator")
    assert _replay(app, captured).get("/api/violations").status_code == 401
    update_user(sessions, viewer.id, role="viewer")


def test_wrong_password_is_401_and_logged_without_the_password(app, caplog):
    caplog.set_level(logging.INFO)
    resp = _login(app.test_client(), "viewer", "not-the-password")
    assert resp.status_code == 401 and "Wrong user name or password" in resp.get_data(as_text=True)
    assert "login failed" in caplog.text and "not-the-password" not in caplog.text
    assert _login(app.test_client(), "ghost", "whatever-123").status_code == 401


def test_failures_are_limited_per_user_and_address(app):
    client = app.test_client()
    for _ in range(5):
        assert _login(client, "operator", "wrong-password").status_code == 401
    blocked = _login(client, "operator", PASSWORD)  # even the right password, until the window ends
    assert blocked.status_code == 429 and "Too many failed attempts" in blocked.get_data(as_text=True)
    assert _login(client, "viewer", PASSWORD).status_code == 302  # other users are not locked out
    other_ip = app.test_client()
    resp = other_ip.post("/login", data={"username": "operator", "password": PASSWORD},
                         environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert resp.status_code == 302


def test_a_success_resets_the_count(app):
    client = app.test_client()
    for _ in range(4):
        _login(client, "admin", "wrong-password")
    assert _login(client, "admin", PASSWORD).status_code == 302
    for _ in range(4):
        assert _login(app.test_client(), "admin", "wrong-password").status_code == 401


def test_redis_limiter_is_shared_between_workers(env):
    _, _, _, url, tmp = env
    prefix = f"mwtest-{secrets.token_hex(4)}"
    bus = open_bus(prefix)
    try:
        cfg = dashboard_config(url, tmp / "snaps", redis_url=bus.url, prefix=prefix)
        worker1, worker2 = create_app(cfg, bus=bus), create_app(cfg)  # the second builds its own RedisBus
        for w in (worker1, worker2):
            w.config.update(WTF_CSRF_ENABLED=False)
        for i in range(5):
            assert _login((worker1 if i % 2 else worker2).test_client(), "viewer", "nope-nope").status_code == 401
        assert _login(worker2.test_client(), "viewer", PASSWORD).status_code == 429
        assert _login(worker1.test_client(), "viewer", PASSWORD).status_code == 429
        keys = list(bus.r.scan_iter(match=f"{prefix}:login:*"))
        assert len(keys) == 2 and all(0 < bus.r.ttl(k) <= 300 for k in keys)  # the account, the address
        assert not any(b"viewer" in k for k in keys)  # user input never shapes key names
    finally:
        drop_prefix(bus, prefix)
        bus.close()


def test_deactivation_and_password_change_end_sessions(env, app):
    _, users, sessions, _, _ = env
    _added_by_an_admin(app, users, "temp", "viewer", "temporary-1")
    temp = next(u for u in list_users(sessions) if u.username == "temp")
    client = app.test_client()
    assert _login(client, "temp", "temporary-1").status_code == 302
    update_user(sessions, temp.id, password="changed-password-1")
    assert client.get("/").status_code == 302
    assert _login(client, "temp", "changed-password-1").status_code == 302
    update_user(sessions, temp.id, active=False)
    assert client.get("/").status_code == 302
    assert _login(client, "temp", "changed-password-1").status_code == 401


def test_users_page_manages_users(env, app):
    _, users, sessions, _, _ = env
    admin = app.test_client()
    login(admin, users["admin"])
    page = admin.get("/users").get_data(as_text=True)
    assert "operator" in page and "pbkdf2" not in page and "scrypt" not in page
    # no Deactivate on the admin's own row (the server refuses it anyway, below): one per other user
    rows = page.split("<tr")[2:]
    mine = next(r for r in rows if "(you)" in r)
    assert 'value="deactivate"' not in mine and "admin" in mine
    assert page.count('value="deactivate"') == sum(1 for u in list_users(sessions) if u.active) - 1
    resp = admin.post("/users", data={"username": "carol", "role": "operator", "password": "carols-password"})
    assert resp.status_code == 302
    assert "User carol added as operator." in admin.get("/users").get_data(as_text=True)
    dup = admin.post("/users", data={"username": "carol", "role": "viewer", "password": "carols-password"})
    assert dup.status_code == 400 and "already exists" in dup.get_data(as_text=True)
    carol = next(u for u in list_users(sessions) if u.username == "carol")
    admin.post(f"/users/{carol.id}", data={"action": "role", "role": "admin"})
    admin.post(f"/users/{carol.id}", data={"action": "deactivate"})
    carol = next(u for u in list_users(sessions) if u.username == "carol")
    assert carol.role == Role.admin and carol.active is False
    me = users["admin"].id
    admin.post(f"/users/{me}", data={"action": "deactivate"})
    assert "cannot deactivate yourself" in admin.get("/users").get_data(as_text=True)
    admin.post(f"/users/{me}", data={"action": "role", "role": "viewer"})
    assert "last active admin" in admin.get("/users").get_data(as_text=True)
    assert admin.post(f"/users/{me}", data={"action": "explode"}).status_code == 400
    assert admin.get("/users").status_code == 200  # still an admin


def test_head_requests_to_login_are_not_attempts(app):
    client = app.test_client()
    for _ in range(10):
        assert client.head("/login").status_code == 200
    assert _login(client, "operator", PASSWORD).status_code == 302


def test_a_flood_of_names_is_limited_per_address_and_evicts_no_one(app):
    client = app.test_client()
    for _ in range(4):
        assert _login(client, "admin", "wrong-password").status_code == 401
    # many addresses, many junk names: in a capped in-memory table they pushed the admin's counter out
    for i in range(40):  # (each costs a password hash: the counters have no cap to reach anyway)
        other = app.test_client()
        other.environ_base = {"REMOTE_ADDR": f"10.0.{i}.9"}
        _login(other, f"junk{i}", "x")
    assert _login(client, "admin", "wrong-password").status_code == 401
    assert _login(client, "admin", PASSWORD).status_code == 429  # its count survived the flood
    flooder = {"REMOTE_ADDR": "10.77.0.1"}
    for i in range(30):
        resp = client.post("/login", data={"username": f"n{i}", "password": "x"}, environ_base=flooder)
        assert resp.status_code == 401
    refused = client.post("/login", data={"username": "viewer", "password": PASSWORD}, environ_base=flooder)
    assert refused.status_code == 429  # that address is done for this window, whatever the name
    assert _login(app.test_client(), "viewer", PASSWORD).status_code == 302  # others are not


@pytest.mark.parametrize("trusted,separate", [(1, True), (0, False)])
def test_trusted_proxies_tell_clients_apart(env, trusted, separate):
    _, _, _, url, tmp = env
    proxied = create_app(dashboard_config(url, tmp / "snaps", trusted_proxies=trusted), bus=MemoryBus("proxy"))
    proxied.config.update(WTF_CSRF_ENABLED=False)
    with proxied.extensions["maskwatch"].sessions.begin() as s:
        s.execute(delete(LoginCounter))
    c = proxied.test_client()
    for _ in range(5):  # one client behind the proxy fails five times
        c.post("/login", data={"username": "operator", "password": "bad"}, headers={"X-Forwarded-For": "203.0.113.5"})
    other = c.post("/login", data={"username": "operator", "password": PASSWORD},
                   headers={"X-Forwarded-For": "198.51.100.7"})
    assert (other.status_code == 302) is separate  # untrusted: both are the proxy's address
