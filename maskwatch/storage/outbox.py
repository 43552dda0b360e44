"""The alert outbox and camera incidents: writes in the caller's transaction (flaskr's discipline:
these take a Session and never commit), reads for the deliverer and the dashboard."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.orm import Session

from maskwatch.storage.queries import as_utc
from maskwatch.storage.repo import dialect_insert
from maskwatch.storage.tables import Incident, OutboxMessage


def enqueue(session: Session, sink: str, message_id: str, kind: str, camera_id: str, payload: dict) -> bool:
    """One message for one sink, unless that sink has it already (a replay); True when added."""
    table = OutboxMessage.__table__
    stmt = (dialect_insert(session)(table)
            .values(sink=sink, message_id=message_id, kind=kind, camera_id=camera_id, payload=payload,
                    created_at=dt.datetime.now(dt.UTC), attempts=0, next_attempt_at=0.0)
            .on_conflict_do_nothing(index_elements=[table.c.sink, table.c.message_id]).returning(table.c.id))
    return session.execute(stmt).first() is not None


def due(session: Session, now: float, limit: int = 100) -> list[OutboxMessage]:
    """Undelivered messages whose next try is due, oldest first."""
    stmt = (select(OutboxMessage).where(OutboxMessage.delivered_at.is_(None), OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id).limit(limit))
    return list(session.scalars(stmt))


def delivered(session: Session, ids: list[int], when: dt.datetime | None = None) -> None:
    if ids:
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                        .values(delivered_at=when or dt.datetime.now(dt.UTC), last_error=None))


def failed(session: Session, ids: list[int], error: str, next_attempt_at: float) -> None:
    if ids:
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                        .values(attempts=OutboxMessage.attempts + 1, next_attempt_at=next_attempt_at,
                                last_error=error[:300]))


def prune(session: Session, delivered_before: dt.datetime, undelivered_before: dt.datetime) -> tuple[int, int]:
    """Delete delivered messages older than one date and undelivered ones older than another (a
    receiver gone for good must not grow the table forever): (delivered, given up) counts."""
    done = session.execute(delete(OutboxMessage).where(OutboxMessage.delivered_at < delivered_before)).rowcount
    dropped = session.execute(delete(OutboxMessage).where(OutboxMessage.delivered_at.is_(None),
                                                          OutboxMessage.created_at < undelivered_before)).rowcount
    return int(done or 0), int(dropped or 0)


@dataclass(frozen=True)
class SinkState:
    sink: str
    pending: int              # not delivered yet
    failing: int              # not delivered, tried at least once
    delivered: int            # delivered (and still kept)
    last_error: str | None
    last_delivered_at: dt.datetime | None


def sink_states(session: Session) -> dict[str, SinkState]:
    o = OutboxMessage
    rows = session.execute(select(
        o.sink, func.count().filter(o.delivered_at.is_(None)),
        func.count().filter(and_(o.delivered_at.is_(None), o.attempts > 0)),
        func.count().filter(o.delivered_at.is_not(None)), func.max(o.delivered_at)).group_by(o.sink)).all()
    out = {}
    for sink, pending, failing, done, last in rows:
        err = session.scalar(select(o.last_error).where(o.sink == sink, o.delivered_at.is_(None),
                                                        o.last_error.is_not(None)).order_by(o.id.desc()).limit(1))
        out[sink] = SinkState(sink, int(pending), int(failing), int(done), err,
                              as_utc(last) if last is not None else None)
    return out


# -- incidents ----------------------------------------------------------------------------------

def open_incident(session: Session, incident_id: str, camera_id: str, kind: str, started_at: dt.datetime,
                  detail: str) -> bool:
    table = Incident.__table__
    stmt = (dialect_insert(session)(table).values(id=incident_id, camera_id=camera_id, kind=kind, started_at=started_at,
                                          detail=detail[:300])
            .on_conflict_do_nothing(index_elements=[table.c.id]).returning(table.c.id))
    return session.execute(stmt).first() is not None


def close_incident(session: Session, incident_id: str, ended_at: dt.datetime) -> None:
    session.execute(update(Incident).where(Incident.id == incident_id, Incident.ended_at.is_(None))
                    .values(ended_at=ended_at))


def open_incidents(session: Session) -> list[Incident]:
    return list(session.scalars(select(Incident).where(Incident.ended_at.is_(None))))


def incidents(session: Session, camera: str | None = None, kind: str | None = None,
              since: dt.datetime | None = None, limit: int = 500) -> list[Incident]:
    """Newest first; `since`: those still open then or started after."""
    stmt = select(Incident)
    if camera is not None:
        stmt = stmt.where(Incident.camera_id == camera)
    if kind is not None:
        stmt = stmt.where(Incident.kind == kind)
    if since is not None:
        stmt = stmt.where((Incident.ended_at.is_(None)) | (Incident.ended_at >= since))
    return list(session.scalars(stmt.order_by(Incident.started_at.desc()).limit(limit)))
