"""Failed-login counters in the database: what the dashboard's limiter uses without Redis.

Each function takes a Session; the caller owns the transaction. A counter's window starts at
its first count and ends `window_s` later; a count after that starts a new window.
"""
from __future__ import annotations

from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from maskwatch.storage.tables import LoginCounter

T = LoginCounter.__table__


def add(session: Session, key: str, now: float, window_s: float) -> int:
    """Count one on `key` (atomically, also between processes); its count in this window."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    expired = T.c.expires_at <= now
    stmt = insert(T).values(key=key, count=1, expires_at=now + window_s)
    stmt = stmt.on_conflict_do_update(index_elements=[T.c.key], set_={
        "count": case((expired, 1), else_=T.c.count + 1),
        "expires_at": case((expired, now + window_s), else_=T.c.expires_at)}).returning(T.c.count)
    return int(session.execute(stmt).scalar_one())


def count(session: Session, key: str, now: float) -> int:
    return int(session.scalar(select(T.c.count).where(T.c.key == key, T.c.expires_at > now)) or 0)


def clear(session: Session, key: str) -> None:
    session.execute(delete(T).where(T.c.key == key))


def prune(session: Session, now: float) -> int:
    """Delete ended windows: the table holds only the counters of the last `window_s`."""
    return session.execute(delete(T).where(T.c.expires_at <= now)).rowcount or 0
