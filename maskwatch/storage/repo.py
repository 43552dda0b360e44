"""Writes to violations and camera_hours, shared by the events service and the dashboard.

Both are single INSERT ... ON CONFLICT statements (SQLite >= 3.35 and PostgreSQL), so a replay, a
retry after a lost commit or a second writer racing on the same key neither raises IntegrityError
nor overwrites: the database settles the race atomically. They run in the caller's transaction.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from maskwatch.storage.tables import CameraHour, Violation


def dialect_insert(session: Session):
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise NotImplementedError(f"storage: {dialect} is not supported (SQLite or PostgreSQL)")
    return insert


def insert_violation_if_absent(session: Session, **fields: Any) -> bool:
    """Insert a violation unless its id exists; True when this call created the row.

    An existing row is never touched: an operator may already have reviewed it.
    """
    table = Violation.__table__
    stmt = (dialect_insert(session)(table).values(**fields).on_conflict_do_nothing(index_elements=[table.c.id])
            .returning(table.c.id))  # rowcount is -1 on psycopg for this statement: RETURNING tells
    return session.execute(stmt).first() is not None


def extend_violation(session: Session, violation_id: str, last_seen: dt.datetime, sightings: int) -> None:
    """When the violator's track ends: how long they were seen. Only ever moves forward, so a
    replay, or an operator's review in between, is never undone."""
    session.execute(update(Violation)
                    .where(Violation.id == violation_id, Violation.last_seen < last_seen)
                    .values(last_seen=last_seen, sightings=sightings))


def set_clip(session: Session, violation_id: str, clip_path: str) -> bool:
    """Point a violation at its clip; False when the row is gone (pruned) or has one already."""
    return bool(session.execute(update(Violation).where(Violation.id == violation_id, Violation.clip_path.is_(None))
                                .values(clip_path=clip_path)).rowcount)


def confirm_frame(session: Session, violation_id: str) -> bool:
    """After a violation's frame file was rewritten (its evidence frame came from ingest): whether the
    row is still there, holding it until the caller commits; False when it was pruned meanwhile."""
    return bool(session.execute(update(Violation).where(Violation.id == violation_id)
                                .values(frame_path=Violation.frame_path)).rowcount)


HOUR_COUNTS = ("people", "violations", "sightings", "not_judged", "still", "watched_s")


def add_camera_hour(session: Session, camera_id: str, hour: dt.datetime, people: int = 0,
                    violations: int = 0, sightings: int = 0, not_judged: int = 0, still: int = 0,
                    watched_s: int = 0) -> None:
    """Add counts to one camera's hour (created at zero when absent). `hour` must be timezone-aware."""
    if hour.tzinfo is None:
        raise ValueError("add_camera_hour: hour must be timezone-aware")
    hour = hour.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    table = CameraHour.__table__
    ins = dialect_insert(session)(table).values(camera_id=camera_id, hour=hour, people=people,
                                         violations=violations, sightings=sightings, not_judged=not_judged,
                                         still=still, watched_s=watched_s)
    stmt = ins.on_conflict_do_update(
        index_elements=[table.c.camera_id, table.c.hour],
        set_={name: table.c[name] + ins.excluded[name] for name in HOUR_COUNTS})
    session.execute(stmt)
