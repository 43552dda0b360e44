"""Dashboard users: creation, password checks, roles; shared by the dashboard and the CLI.

Passwords are stored only as werkzeug hashes (scrypt by default). Functions take a sessionmaker and
commit their own short transaction, so the CLI and the web app use them the same way.
"""
from __future__ import annotations

import functools
import logging
import re
import secrets
from collections.abc import Mapping

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.security import check_password_hash, generate_password_hash

from maskwatch.config import refuse_example_secret
from maskwatch.errors import MaskwatchError
from maskwatch.storage.tables import Role, User

log = logging.getLogger(__name__)

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 256


@functools.cache
def _dummy_hash() -> str:
    # checked against when the user does not exist, so a miss costs as long as a wrong password
    return generate_password_hash("maskwatch-timing-equaliser")


class UserError(MaskwatchError, ValueError):
    """A user request that cannot be done; the message is safe to show."""


def _check_name(name: str) -> str:
    if not USERNAME.match(name or ""):
        raise UserError("user names are 1-64 letters, digits, _ . @ - and start with a letter or digit")
    return name


def _check_password(password: str) -> str:
    if not (MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD):
        raise UserError(f"passwords are {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


def parse_role(role: str | Role) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise UserError(f"unknown role {role!r} (viewer, operator, admin)") from None


def add_user(sessions: sessionmaker[Session], name: str, role: str | Role, password: str, *,
             hash_method: str | None = None) -> User:
    """Create an active user; UserError when the name is taken or a field is invalid.

    hash_method is for tests only (a cheap pbkdf2); production keeps werkzeug's default.
    """
    _check_name(name)
    _check_password(password)
    user = User(username=name, role=parse_role(role), active=True,
                password_hash=generate_password_hash(password, **({"method": hash_method} if hash_method else {})))
    with sessions() as s:
        if s.scalar(select(User.id).where(User.username == name)) is not None:
            raise UserError(f"user {name!r} already exists")
        s.add(user)
        try:
            s.commit()
        except IntegrityError:  # created concurrently between the check and the insert
            raise UserError(f"user {name!r} already exists") from None
    log.info("user %s: created with role %s", name, user.role.value)
    return user


def verify(sessions: sessionmaker[Session], name: str, password: str) -> User | None:
    """The active user with this name and password, else None (same cost either way)."""
    with sessions() as s:
        user = s.scalar(select(User).where(User.username == name)) if USERNAME.match(name or "") else None
    if user is None:
        check_password_hash(_dummy_hash(), password or "")
        return None
    if not check_password_hash(user.password_hash, password or "") or not user.active:
        return None
    return user


def get_user(sessions: sessionmaker[Session], user_id: int) -> User | None:
    with sessions() as s:
        return s.get(User, user_id)


def end_sessions(sessions: sessionmaker[Session], user_id: int) -> None:
    """End every session of this user (logout): their session ids no longer match."""
    with sessions() as s:
        s.execute(update(User).where(User.id == user_id).values(session_version=User.session_version + 1))
        s.commit()


def list_users(sessions: sessionmaker[Session]) -> list[User]:
    with sessions() as s:
        return list(s.scalars(select(User).order_by(User.username)))


def _active_admins(s: Session) -> int:
    return s.scalar(select(func.count()).select_from(User).where(User.role == Role.admin, User.active)) or 0


def update_user(sessions: sessionmaker[Session], user_id: int, *, role: str | Role | None = None,
                active: bool | None = None, password: str | None = None) -> User:
    """Change a user's role, active flag or password; never leaves the site without an active admin."""
    with sessions() as s:
        # lock every active admin row, not only this one: two admins demoting each other at once
        # must not both see the other still in charge
        s.scalars(select(User.id).where(User.role == Role.admin, User.active).with_for_update()).all()
        user = s.get(User, user_id, with_for_update=True)
        if user is None:
            raise UserError("no such user")
        was_admin = user.role == Role.admin and user.active
        if role is not None:
            user.role = parse_role(role)
        if active is not None:
            user.active = active
        if password is not None:
            user.password_hash = generate_password_hash(_check_password(password))
        user.session_version += 1  # a changed role, state or password ends the user's sessions
        s.flush()
        if was_admin and _active_admins(s) == 0:
            s.rollback()
            raise UserError("this is the last active admin: make another admin first")
        s.commit()
        log.info("user %s: updated (role %s, active %s)", user.username, user.role.value, user.active)
        return user


def ensure_first_admin(sessions: sessionmaker[Session], env: Mapping[str, str]) -> str | None:
    """Create the first admin when there is no user at all.

    The password comes from MASKWATCH_ADMIN_PASSWORD (name from MASKWATCH_ADMIN_USER, default
    "admin"); without it a random one is generated and returned, for the caller to print once.
    Returns None when nothing was generated (users exist, or the password came from the env).
    """
    with sessions() as s:
        if s.scalar(select(func.count()).select_from(User)):
            return None
    name = env.get("MASKWATCH_ADMIN_USER") or "admin"
    given = env.get("MASKWATCH_ADMIN_PASSWORD")
    if given:
        refuse_example_secret("MASKWATCH_ADMIN_PASSWORD", given)
    password = given or secrets.token_urlsafe(12)
    try:
        add_user(sessions, name, Role.admin, password)
    except UserError:
        # another process created users meanwhile; or the env password is too short (say so)
        if given and len(given) < MIN_PASSWORD:
            raise
        return None
    return None if given else password
