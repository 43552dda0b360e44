"""Logging in and out, the login gate on every route, and roles.

Every route needs a logged-in user except the PUBLIC endpoints; the gate is one before_request
hook rather than a decorator per view, so a new route cannot be left open by forgetting it.
Anonymous API calls get 401 JSON, pages a redirect to /login.

Machines use API tokens instead (`Authorization: Bearer mwt_...`, maskwatch.storage.tokens), on
/api/* only: a token on a page is no login. A `read` token acts as a viewer, a `review` one as an
operator, none as an admin; token requests carry no cookie and need no CSRF token (a browser never
sends the header by itself). Guesses count as failed logins of their address: past the login
limiter's limit every token from it is refused (429) before any is checked.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, g, redirect, render_template, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from maskwatch.dashboard.errors import INSECURE_MESSAGE, error_response, insecure_transport, wants_json
from maskwatch.dashboard.state import state
from maskwatch.storage import tokens
from maskwatch.storage.tables import Role, TokenScope, User
from maskwatch.storage.users import end_sessions, get_user, verify

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)
PUBLIC = {"auth.login", "ops.healthz", "ops.metrics", "api.openapi", "static"}
RANK = {Role.viewer: 0, Role.operator: 1, Role.admin: 2}


class RankedUser(UserMixin):
    """Who a request is for, with a role: a person's session or a machine's token."""
    role: Role

    def can(self, role: Role | str) -> bool:
        return RANK[self.role] >= RANK[Role(role)]


class SessionUser(RankedUser):
    """The logged-in user as Flask-Login sees it.

    The session id carries a digest of the password hash and the user's session version, checked
    against the database on every request: logout, a password or role change and deactivation
    bump the version (or the hash), so every cookie issued before is refused from then on, also
    one copied before the logout.
    """

    def __init__(self, user: User):
        self.uid, self.username, self.role = user.id, user.username, Role(user.role)
        self.token = _token(user)

    def get_id(self) -> str:
        return f"{self.uid}:{self.token}"


class TokenUser(RankedUser):
    """A machine with an API token, for one request: never in a session."""

    def __init__(self, name: str, scope: TokenScope):
        self.uid, self.username = None, f"token:{name}"
        self.role = Role.operator if scope is TokenScope.review else Role.viewer

    def get_id(self) -> None:
        return None


def _from_token(req) -> TokenUser | None:
    """Flask-Login's request loader: the bearer token of an /api/* request, else nobody."""
    kind, _, token = (req.headers.get("Authorization") or "").partition(" ")
    if kind.lower() != "bearer" or not req.path.startswith("/api/"):
        return None
    address, limiter = req.remote_addr or "", state().limiter
    if limiter.blocked(address):
        g.api_token_error = (429, "too many failed attempts from this address; wait a few minutes")
        return None
    with state().sessions.begin() as s:
        row = tokens.find(s, token.strip())
        found = None if row is None else (row.name, row.scope)
    if found is None:
        limiter.failed("(api token)", address)
        log.warning("api: a bad or revoked token from %s", address)
        g.api_token_error = (401, "invalid or revoked API token")
        return None
    g.api_token = found[0]
    return TokenUser(*found)


def _token(user: User) -> str:
    return hashlib.sha256(f"{user.session_version}:{user.password_hash}".encode()).hexdigest()[:16]


def _load_user(user_id: str) -> SessionUser | None:
    uid, _, token = user_id.partition(":")
    if not uid.isdigit():
        return None
    user = get_user(state().sessions, int(uid))
    if user is None or not user.active or _token(user) != token:
        return None
    return SessionUser(user)


def _unauthorized():
    if g.get("api_token_error"):
        return error_response(*g.api_token_error)
    if wants_json():
        return error_response(401, "login required")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _gate():
    if request.endpoint in PUBLIC or current_user.is_authenticated:
        return None
    return _unauthorized()


def init_auth(app: Flask) -> None:
    manager = LoginManager(app)
    manager.session_protection = "basic"
    manager.user_loader(_load_user)
    manager.request_loader(_from_token)
    manager.unauthorized_handler(_unauthorized)
    app.before_request(_gate)
    app.register_blueprint(bp)


def require(role: Role) -> Callable:
    """Refuse (403) users below `role`; the login gate has already refused anonymous ones."""
    def deco(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.can(role):
                abort(403, f"this needs the {role.value} role")
            return view(*args, **kwargs)
        return wrapper
    return deco


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go to after a form, never another site (open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    nxt = safe_next(request.values.get("next"))
    if request.method in ("GET", "HEAD"):  # a HEAD is no login attempt (Flask routes it here)
        if current_user.is_authenticated:
            return redirect(nxt)
        # said before the form is sent, not only after it failed
        return render_template("login.html", next=nxt, error=INSECURE_MESSAGE if insecure_transport() else None)
    name = (request.form.get("username") or "").strip()[:64]
    password = request.form.get("password") or ""
    address, limiter = request.remote_addr or "", state().limiter
    if not limiter.admit(name, address):
        log.warning("user %r: login refused from %s: too many failures", name, address)
        return render_template("login.html", next=nxt, username=name,
                               error="Too many failed attempts. Wait a few minutes and try again."), 429
    user = verify(state().sessions, name, password)
    if user is None:
        limiter.failed(name, address)
        log.warning("user %r: login failed from %s", name, address)
        return render_template("login.html", next=nxt, username=name, error="Wrong user name or password."), 401
    limiter.succeeded(name, address)
    session.clear()  # a fresh session on login: no fixation of a session planted before
    login_user(SessionUser(user))
    session.permanent = True
    log.info("user %s: logged in from %s", user.username, request.remote_addr)
    return redirect(nxt)


@bp.route("/logout", methods=["POST"])
def logout():
    log.info("user %s: logged out", current_user.username)
    end_sessions(state().sessions, current_user.uid)
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))
