"""API tokens for machines: created by an admin, shown once, kept only as a SHA-256, scoped (read,
review), revocable, with their last use. Functions take a Session; the caller owns the transaction.

A token is `mwt_` + 43 url-safe characters (256 random bits): a fast hash is enough to keep it, as
nobody can guess such a token from its hash (passwords, chosen by people, need scrypt).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maskwatch.errors import MaskwatchError
from maskwatch.storage.tables import ApiToken, TokenScope
from maskwatch.storage.users import USERNAME as NAME  # a token is named as a user is

PREFIX = "mwt_"
TOKEN = re.compile(r"^mwt_[A-Za-z0-9_-]{43}$")
LAST_USED_EVERY = dt.timedelta(minutes=1)  # a token used all day is one write a minute, not one a call


class TokenError(MaskwatchError, ValueError):
    """A token that cannot be made or found as asked; the text is for the admin."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(session: Session, name: str, scope: str, created_by: str) -> tuple[ApiToken, str]:
    """A new token; (its row, the token itself: shown once, never stored)."""
    if not NAME.match(name or ""):
        raise TokenError(f"token name {name!r}: letters, digits and _ . @ -, at most 64")
    try:
        scope_ = TokenScope(scope)
    except ValueError:
        raise TokenError(f"scope {scope!r}: expected read or review") from None
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=digest(token), hint=token[:10], scope=scope_, created_by=created_by,
                   created_at=dt.datetime.now(dt.UTC))
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise TokenError(f"a token named {name!r} exists already") from None
    return row, token


def find(session: Session, token: str, now: dt.datetime | None = None) -> ApiToken | None:
    """The live token this is, its last use noted (at most once a minute); None for anything else."""
    if not TOKEN.match(token or ""):
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(token)))
    if row is None or row.revoked_at is not None:  # found by its hash: nothing of the token to compare
        return None
    now = now or dt.datetime.now(dt.UTC)
    last = row.last_used_at
    if last is None or now - (last if last.tzinfo else last.replace(tzinfo=dt.UTC)) >= LAST_USED_EVERY:
        row.last_used_at = now
    return row


def revoke(session: Session, name: str) -> ApiToken:
    row = session.scalar(select(ApiToken).where(ApiToken.name == name))
    if row is None:
        raise TokenError(f"no token named {name!r}")
    if row.revoked_at is None:
        row.revoked_at = dt.datetime.now(dt.UTC)
    return row


def listing(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.name)))
