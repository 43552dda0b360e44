"""Every dashboard route against a table: anonymous, wrong role, missing CSRF, bad parameters, traversal.

SQLite backend and the in-process bus: access control does not depend on the database dialect
(the PostgreSQL paths are covered by test_dashboard_views and test_dashboard_scale).
"""
from __future__ import annotations

import datetime as dt

import pytest
from support.dashboard import (
    T0,
    add_violations,
    csrf_token,
    dashboard_config,
    live_blob,
    login,
    make_users,
    make_violation,
    violation_id,
)
from support.databases import sqlite_database
from support.settings import ROOT

from maskwatch.dashboard.app import create_app
from maskwatch.membus import MemoryBus
from maskwatch.storage.snapshots import SnapshotStore
from maskwatch.storage.tables import ReportRun, Role

VID = violation_id(1)
REPORTS = {"smtp": {"host": "127.0.0.1", "sender": "mw@site.example"},
           "schedule": [{"name": "weekly", "every": "week", "to": ["ops@site.example"]}]}
V, O, A = Role.viewer, Role.operator, Role.admin  # noqa: E741 (the role table reads best in capitals)

# (method, path template, lowest role allowed, API route, form or JSON body for an allowed call)
ROUTES = [
    ("GET", "/", V, False, None),
    ("GET", "/violations/{vid}", V, False, None),
    ("GET", "/violations/{vid}/crop.jpg", V, False, None),
    ("GET", "/violations/{vid}/frame.jpg", V, False, None),
    ("GET", "/violations/{vid}/clip.mp4", V, False, None),
    ("GET", "/violations.csv", V, False, None),
    ("POST", "/violations/{vid}/review", O, False, {"status": "confirmed", "note": "seen"}),
    ("POST", "/violations/review", O, False, {"ids": [VID], "status": "false_positive"}),
    ("GET", "/stats", V, False, None),
    ("GET", "/cameras", V, False, None),
    ("GET", "/reports", V, False, None),
    ("GET", "/reports/weekly/1764543600.pdf", V, False, None),
    ("GET", "/cameras/manage", A, False, None),
    ("POST", "/cameras/manage", A, False, {"id": "cam-z", "url": "rtsp://127.0.0.1:9/x", "fps": "5"}),
    ("POST", "/cameras/manage/test", A, False, {"id": "cam-z", "url": "rtsp://127.0.0.1:9/x"}),
    ("POST", "/cameras/manage/{cam}/remove", A, False, None),
    ("GET", "/cameras/cam-a/live.jpg", V, False, None),
    ("GET", "/cameras/cam-a/live.json", V, False, None),
    ("GET", "/wall", V, False, None),
    ("GET", "/alerts", V, False, None),
    ("GET", "/api/alerts", V, True, None),
    ("GET", "/api/incidents", V, True, None),
    ("GET", "/users", A, False, None),
    ("POST", "/users", A, False, {"username": "newbie", "role": "viewer", "password": "long-enough-1"}),
    ("POST", "/users/{uid}", A, False, {"action": "role", "role": "operator"}),
    ("POST", "/users/tokens", A, False, {"name": "routes-table", "scope": "read"}),
    ("POST", "/users/tokens/{tok}/revoke", A, False, {}),
    ("POST", "/logout", V, False, {}),
    ("GET", "/api/violations", V, True, None),
    ("GET", "/api/violations/new?since=2025-01-01T00:00:00", V, True, None),
    ("GET", "/api/violations/{vid}", V, True, None),
    ("POST", "/api/violations/{vid}/review", O, True, {"status": "confirmed"}),
    ("GET", "/api/stats", V, True, None),
    ("GET", "/api/cameras", V, True, None),
]
PUBLIC = ["/healthz", "/metrics", "/login", "/api/openapi.json", "/static/style.css", "/static/app.js",
          "/static/live.js", "/static/watch.js"]
RANK = [V, O, A]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("routes")
    cfg = dashboard_config(sqlite_database(tmp), tmp / "snaps", reports=REPORTS)
    bus = MemoryBus("routes")
    bus.put_blob(bus.keys.live("cam-a"), live_blob("cam-a"))
    store = SnapshotStore(tmp / "snaps")
    app = create_app(cfg, bus=bus, snapshots=store)
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    sessions = app.extensions["maskwatch"].sessions
    users = make_users(sessions)
    evil = make_violation(2, "cam-a", T0)
    evil.crop_path, evil.frame_path, evil.clip_path = "../../../../etc/passwd", "/etc/passwd", "../../etc/passwd"
    gone = make_violation(3, "cam-a", T0 + dt.timedelta(minutes=1))  # row without files
    gone.clip_path = store.clip_relpath(gone.crop_path, gone.id)
    good = make_violation(1, "cam-a", T0, store=store)
    good.clip_path = store.clip_relpath(good.crop_path, good.id)
    store.write(good.clip_path, b"\x00\x00\x00\x20ftypisom")
    add_violations(sessions, [good, evil, gone])
    with sessions.begin() as s:  # the weekly report of the week from Monday 2025-12-01 (Paris), sent
        s.add(ReportRun(name="weekly", period_start=dt.datetime(2025, 11, 30, 23, tzinfo=dt.UTC),
                        sent_at=dt.datetime(2025, 12, 8, 6, tzinfo=dt.UTC), recipients=1))
    return app, users


@pytest.fixture
def app(env):
    app, _ = env
    app.config["WTF_CSRF_ENABLED"] = False
    yield app
    app.config["WTF_CSRF_ENABLED"] = False


@pytest.fixture
def users(env):
    return env[1]


def _path(template: str, users) -> str:
    return template.format(vid=VID, uid=users["operator"].id, tok="routes-table", cam="cam-z")


def _call(client, method: str, path: str, api: bool, body, headers=None):
    if method == "GET":
        return client.get(path, headers=headers)
    if api:
        return client.post(path, json=body or {}, headers=headers)
    return client.post(path, data=body or {}, headers=headers)


def test_every_route_is_in_the_table(app):
    """A new route must be added to ROUTES or PUBLIC, so its access rules get tested."""
    known = {t.replace("{vid}", "<vid>").replace("{uid}", "<int(max=2147483647):user_id>").replace("cam-a", "<cam>")
             .replace("{tok}", "<name>").replace("{cam}", "<cam_id>")
             .replace("/reports/weekly/1764543600.pdf", "/reports/<name>/<int:start>.<any(csv, pdf):kind>")
             .partition("?")[0] for _, t, *_ in ROUTES}
    known |= {p for p in PUBLIC if not p.startswith("/static")} | {"/static/<path:filename>"}
    assert {r.rule for r in app.url_map.iter_rules()} == known


@pytest.mark.parametrize("method,template,role,api,body", ROUTES, ids=[f"{m} {t}" for m, t, *_ in ROUTES])
def test_anonymous_is_refused(app, users, method, template, role, api, body):
    app.config["WTF_CSRF_ENABLED"] = True  # the login gate answers before CSRF is checked
    resp = _call(app.test_client(), method, _path(template, users), api, body)
    if api:
        assert resp.status_code == 401
        assert resp.get_json() == {"error": "login required", "status": 401}
    else:
        assert resp.status_code == 302
        assert resp.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("method,template,role,api,body",
                         [r for r in ROUTES if r[2] != V], ids=[f"{r[0]} {r[1]}" for r in ROUTES if r[2] != V])
def test_lower_roles_are_forbidden(app, users, method, template, role, api, body):
    for lower in RANK[:RANK.index(role)]:
        client = app.test_client()
        login(client, users[lower.value])
        resp = _call(client, method, _path(template, users), api, body)
        assert resp.status_code == 403, (lower, resp.status_code)
        if api:
            assert resp.get_json()["status"] == 403


@pytest.mark.parametrize("method,template,role,api,body", ROUTES, ids=[f"{m} {t}" for m, t, *_ in ROUTES])
def test_allowed_role_gets_through(app, users, method, template, role, api, body):
    client = app.test_client()
    login(client, users[role.value])
    resp = _call(client, method, _path(template, users), api, body)
    assert resp.status_code in (200, 302), resp.get_data(as_text=True)[:300]


POSTS = [r for r in ROUTES if r[0] == "POST"] + [("POST", "/login", V, False, {"username": "admin"})]


@pytest.mark.parametrize("method,template,role,api,body", POSTS, ids=[r[1] for r in POSTS])
def test_post_without_csrf_token_is_400(app, users, method, template, role, api, body):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    login(client, users["admin"])
    resp = _call(client, method, _path(template, users), api, body)
    assert resp.status_code == 400
    bad = _call(client, method, _path(template, users), api, body, headers={"X-CSRFToken": "forged"})
    assert bad.status_code == 400
    if api:
        assert "error" in resp.get_json()


def test_post_with_csrf_token_passes(app, users):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    login(client, users["operator"])
    token = csrf_token(client)
    form = client.post(f"/violations/{VID}/review", data={"status": "confirmed", "csrf_token": token})
    assert form.status_code == 302
    api = client.post(f"/api/violations/{VID}/review", json={"status": "pending"}, headers={"X-CSRFToken": token})
    assert api.status_code == 200 and api.get_json()["review_status"] == "pending"


@pytest.mark.parametrize("path", PUBLIC)
def test_public_routes_need_no_login(app, path):
    assert app.test_client().get(path).status_code == 200


BAD_FILTERS = [
    "camera=../../etc", "camera=UPPER", "from=yesterday", "to=2025-13-01", "from=2025-03-02&to=2025-03-01",
    "status=bogus", "verdict=mask", "verdict=NO_MASK", "min_conf=1.5", "min_conf=nan", "min_conf=-0.1",
    "from=" + "9" * 50,
]
BAD_CURSORS = ["before=!!!", "before=Zm9vOmJhcg", "after=" + "A" * 200, "before=x&after=y"]  # the page's
BAD = ([(base, q) for base in ("/", "/api/violations", "/violations.csv") for q in BAD_FILTERS]
       + [("/", q) for q in BAD_CURSORS])


@pytest.mark.parametrize("base,query", BAD, ids=[f"{b}?{q[:30]}" for b, q in BAD])
def test_bad_filters_are_400(app, users, base, query):
    client = app.test_client()
    login(client, users["viewer"])
    resp = client.get(f"{base}?{query}")
    assert resp.status_code == 400, resp.get_data(as_text=True)[:200]
    if base.startswith("/api"):
        assert resp.get_json()["status"] == 400 and resp.get_json()["error"]


@pytest.mark.parametrize("path", [
    "/api/violations?limit=0", "/api/violations?limit=abc", "/api/violations?limit=100000",
    "/api/violations?cursor=%%%", "/stats?from=nope", "/stats?from=2020-01-01&to=2025-01-01",
    "/api/stats?to=2025-02-30", "/api/stats?from=2025-03-05&to=2025-03-01",
])
def test_bad_parameters_are_400(app, users, path):
    client = app.test_client()
    login(client, users["viewer"])
    assert client.get(path).status_code == 400


@pytest.mark.parametrize("method,path,body", [
    ("POST", f"/violations/{VID}/review", {"status": "bogus"}),
    ("POST", f"/violations/{VID}/review", {}),
    ("POST", "/violations/review", {"ids": ["../x"], "status": "confirmed"}),
    ("POST", "/violations/review", {"ids": [VID], "status": ""}),
    ("POST", f"/violations/{VID}/review", {"status": "confirmed", "note": "x" * 2001}),
    ("JSON", f"/api/violations/{VID}/review", {"status": "nope"}),
    ("JSON", f"/api/violations/{VID}/review", {"status": "confirmed", "note": 5}),
    ("JSON", f"/api/violations/{VID}/review", ["confirmed"]),
    ("RAW", f"/api/violations/{VID}/review", "not json"),
])
def test_bad_review_requests_are_400(app, users, method, path, body):
    client = app.test_client()
    login(client, users["operator"])
    if method == "JSON":
        resp = client.post(path, json=body)
    elif method == "RAW":
        resp = client.post(path, data=body, content_type="application/json")
    else:
        resp = client.post(path, data=body)
    assert resp.status_code == 400


TRAVERSAL = [
    "/violations/..%2f..%2fetc%2fpasswd/frame.jpg", "/violations/..%2F..%2Fetc%2Fpasswd/crop.jpg",
    "/violations/../../etc/passwd/frame.jpg", "/violations/%2e%2e/crop.jpg", "/violations/../crop.jpg",
    "/violations/..%5c..%5cwindows/crop.jpg", "/violations/abc.def/crop.jpg", f"/violations/{VID}.jpg/crop.jpg",
    f"/violations/{VID.upper()}/crop.jpg", "/violations/00000000/crop.jpg", "/violations/%00/crop.jpg",
    f"/violations/{violation_id(2)}/crop.jpg", f"/violations/{violation_id(2)}/frame.jpg",
    f"/violations/{violation_id(3)}/crop.jpg", "/violations/..%2f..%2fetc%2fpasswd",
    f"/violations/{violation_id(2)}/clip.mp4", f"/violations/{violation_id(3)}/clip.mp4", "/violations/../clip.mp4",
    "/api/violations/..%2f..%2fetc%2fpasswd", "/api/violations/.", "/cameras/..%2f..%2fetc/live.jpg",
    "/cameras/unknown/live.jpg", "/cameras/cam-b/live.jpg", "/static/..%2f..%2fapp.py", "/static/../app.py",
]


@pytest.mark.parametrize("path", TRAVERSAL)
def test_traversal_and_unknown_ids_are_404(app, users, path):
    client = app.test_client()
    login(client, users["viewer"])
    resp = client.get(path)
    assert resp.status_code == 404, resp.status_code
    assert b"root:" not in resp.data


def test_snapshot_is_served_by_id(app, users):
    client = app.test_client()
    login(client, users["viewer"])
    resp = client.get(f"/violations/{VID}/crop.jpg")
    assert resp.status_code == 200 and resp.mimetype == "image/jpeg" and resp.data[:2] == b"\xff\xd8"
    assert "private" in resp.headers["Cache-Control"] and "public" not in resp.headers["Cache-Control"]


def test_session_cookie_and_security_headers(app, users):
    client = app.test_client()
    resp = client.post("/login", data={"username": "admin", "password": "correct-horse-42"})
    assert resp.status_code == 302
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    page = client.get("/")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Cache-Control"] == "no-store"


def test_secure_cookies_when_configured(tmp_path):
    cfg = dashboard_config(sqlite_database(tmp_path), tmp_path / "s", secure_cookies=True)
    app = create_app(cfg, bus=MemoryBus("sec"))
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_open_redirects_are_refused(app, users):
    client = app.test_client()
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        resp = client.post("/login", data={"username": "viewer", "password": "correct-horse-42", "next": target})
        assert resp.headers["Location"] == "/", target


def test_serve_helpers(tmp_path):
    from maskwatch.dashboard.serve import gunicorn_options, make_wsgi, with_secret_key

    cfg = dashboard_config(sqlite_database(tmp_path), tmp_path / "s", secret_key=None, host="::1", workers=3, threads=5)
    keyed = with_secret_key(cfg)
    assert cfg.dashboard.secret_key is None and len(keyed.dashboard.secret_key) == 64
    assert with_secret_key(keyed) is keyed  # one key for every gunicorn worker
    opts = gunicorn_options(keyed)
    assert (opts["bind"], opts["workers"], opts["threads"], opts["worker_class"]) == ("[::1]:8000", 3, 5, "gthread")
    app = make_wsgi(keyed, bus=MemoryBus("wsgi"))
    assert app.config["SECRET_KEY"] == keyed.dashboard.secret_key
    health = app.test_client().get("/healthz").get_json()
    assert (health["db"], health["redis"]) == ("ok", "ok")


def test_dashboard_imports_no_models_or_tensorflow():
    """The dashboard must start without the ML stack: no TensorFlow, no models package, no OpenCV."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, dashboard.app, dashboard.serve; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'models', 'cv2', 'keras')); "
            "print(bad); sys.exit(1 if bad else 0)")
    root = ROOT
    done = subprocess.run([sys.executable, "-c", code], check=False, cwd=root, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
