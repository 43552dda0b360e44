"""The users page (admin): add users, change roles, deactivate and reactivate, reset passwords;
create API tokens (shown once) and revoke them.

Routes live on the auth blueprint. The storage layer refuses to remove the last active admin.
"""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from maskwatch.dashboard.auth import bp, require
from maskwatch.dashboard.state import state
from maskwatch.storage import tokens
from maskwatch.storage.tables import Role
from maskwatch.storage.users import UserError, add_user, list_users, update_user


def _page(status: int = 200, **extra):
    with state().sessions() as s:
        listed = tokens.listing(s)
        s.expunge_all()
    return render_template("users.html", users=list_users(state().sessions), roles=list(Role), tokens=listed,
                           **extra), status


@bp.get("/users")
@require(Role.admin)
def users():
    return _page()


@bp.post("/users/tokens")
@require(Role.admin)
def tokens_add():
    try:
        with state().sessions.begin() as s:
            row, value = tokens.create(s, (request.form.get("name") or "").strip(), request.form.get("scope") or "",
                                       current_user.username)
            shown = {"name": row.name, "scope": row.scope.value, "value": value}
    except tokens.TokenError as e:
        flash(str(e), "error")
        return _page(400)
    # shown in this response only: no redirect (the value would have to travel in the session)
    page, _ = _page(new_token=shown)
    return page, 200, {"Cache-Control": "no-store"}


@bp.post("/users/tokens/<name>/revoke")
@require(Role.admin)
def tokens_revoke(name: str):
    try:
        with state().sessions.begin() as s:
            tokens.revoke(s, name)
    except tokens.TokenError as e:
        flash(str(e), "error")
        return redirect(url_for("auth.users"))
    flash(f"Token {name} revoked: it is refused from now on.", "ok")
    return redirect(url_for("auth.users", _anchor="tokens"))


@bp.post("/users")
@require(Role.admin)
def users_add():
    form = request.form
    try:
        user = add_user(state().sessions, (form.get("username") or "").strip(), form.get("role") or "",
                        form.get("password") or "")
    except UserError as e:
        flash(str(e), "error")
        return _page(400, form=form)
    flash(f"User {user.username} added as {user.role.value}.", "ok")
    return redirect(url_for("auth.users"))


# ids are 32-bit in every database we run on: a longer number is no user (404), not an overflow
@bp.post("/users/<int(max=2147483647):user_id>")
@require(Role.admin)
def users_update(user_id: int):
    form = request.form
    action = form.get("action")
    changes: dict = {}
    if action == "role":
        changes["role"] = form.get("role") or ""
    elif action in ("deactivate", "activate"):
        changes["active"] = action == "activate"
    elif action == "password":
        changes["password"] = form.get("password") or ""
    else:
        abort(400, "unknown action")
    if changes.get("active") is False and user_id == current_user.uid:
        flash("You cannot deactivate yourself.", "error")
        return redirect(url_for("auth.users"))
    try:
        user = update_user(state().sessions, user_id, **changes)
    except UserError as e:
        flash(str(e), "error")
        return redirect(url_for("auth.users"))
    flash(f"User {user.username} updated.", "ok")
    return redirect(url_for("auth.users"))
