"""Violation queries shared by the dashboard pages, its JSON API and the CSV export.

Lists are newest first and paged by KEYSET on (first_seen, id), never OFFSET: each page starts
from the last row of the one before, so page 2,000 costs what page 1 costs, and the indexes
ix_violations_seen_id / _camera_seen / _status_seen serve the ORDER BY directly.

Times are UTC. SQLite hands back naive datetimes (it stores no offset), so every time leaving this
module goes through as_utc, and every bound time is converted to UTC first.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import Select, func, literal_column, select, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from maskwatch.errors import MaskwatchError
from maskwatch.storage.models import CameraHour, ReviewStatus, Violation

HEX_ID = re.compile(r"^[0-9a-f]{8,40}$")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MAX_NOTE = 2000


class BadQuery(MaskwatchError, ValueError):
    """A filter, cursor or review request that cannot be used; the message is safe to show."""


def as_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _bind(value: dt.datetime) -> dt.datetime:
    # SQLite drops the offset when storing, so bound values must already be in UTC
    return as_utc(value)


@dataclass(frozen=True)
class ViolationFilter:
    camera: str | None = None
    start: dt.datetime | None = None   # inclusive
    end: dt.datetime | None = None     # exclusive
    status: ReviewStatus | None = None
    min_conf: float | None = None

    def clauses(self) -> list:
        out = []
        if self.camera is not None:
            out.append(Violation.camera_id == self.camera)
        if self.status is not None:
            out.append(Violation.review_status == self.status)
        if self.start is not None:
            out.append(Violation.first_seen >= _bind(self.start))
        if self.end is not None:
            out.append(Violation.first_seen < _bind(self.end))
        if self.min_conf is not None:
            out.append(Violation.p_no_mask >= self.min_conf)
        return out


@dataclass(frozen=True)
class Cursor:
    """A position in the newest-first order: the (first_seen, id) of a row."""
    first_seen: dt.datetime
    id: str

    @classmethod
    def of(cls, row: Violation) -> Cursor:
        return cls(as_utc(row.first_seen), row.id)

    def encode(self) -> str:
        delta = as_utc(self.first_seen) - EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        return base64.urlsafe_b64encode(f"{micros}:{self.id}".encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            if len(token) > 120:
                raise ValueError
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
            micros, vid = raw.split(":", 1)
            when = EPOCH + dt.timedelta(microseconds=int(micros))
        except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError):
            raise BadQuery("invalid page cursor") from None
        if not HEX_ID.match(vid):
            raise BadQuery("invalid page cursor")
        return cls(when, vid)

    def key(self) -> tuple:
        return (_bind(self.first_seen), self.id)


@dataclass
class Page:
    rows: list[Violation]
    newer: Cursor | None   # pass as `after` for the page before (newer rows); None on the newest
    older: Cursor | None   # pass as `before` for the next page (older rows); None on the last


def page_statement(flt: ViolationFilter, limit: int, before: Cursor | None = None,
                   after: Cursor | None = None) -> Select:
    """Rows strictly older than `before` (newest first), or strictly newer than `after` (oldest first)."""
    stmt = select(Violation).where(*flt.clauses()).limit(limit)
    key = tuple_(Violation.first_seen, Violation.id)
    if after is not None:
        # a row-value comparison, so PostgreSQL turns it into an index range, not a filter
        return stmt.where(key > tuple_(*after.key())).order_by(Violation.first_seen.asc(), Violation.id.asc())
    if before is not None:
        stmt = stmt.where(key < tuple_(*before.key()))
    return stmt.order_by(Violation.first_seen.desc(), Violation.id.desc())


def fetch_page(session: Session, flt: ViolationFilter, limit: int, before: Cursor | None = None,
               after: Cursor | None = None) -> Page:
    """One page of `limit` rows, newest first, and the cursors of its neighbours."""
    rows = list(session.scalars(page_statement(flt, limit + 1, before, after)))
    more = len(rows) > limit
    rows = rows[:limit]
    if after is not None:
        rows.reverse()
        newer = Cursor.of(rows[0]) if more and rows else None
        older = Cursor.of(rows[-1]) if rows else None
    else:
        newer = Cursor.of(rows[0]) if before is not None and rows else None
        older = Cursor.of(rows[-1]) if more else None
    return Page(rows, newer, older)


def iter_filtered(sessions: sessionmaker[Session], flt: ViolationFilter, batch: int = 1000) -> Iterator[Violation]:
    """Every matching row, newest first, in keyset batches with a short session each (CSV export)."""
    cursor = None
    while True:
        with sessions() as s:
            rows = list(s.scalars(page_statement(flt, batch, before=cursor)))
        yield from rows
        if len(rows) < batch:
            return
        cursor = Cursor.of(rows[-1])


def get_violation(session: Session, vid: str) -> Violation | None:
    if not HEX_ID.match(vid or ""):
        return None
    return session.get(Violation, vid)


def review(session: Session, ids: Iterable[str], status: ReviewStatus, note: str | None, user: str,
           now: dt.datetime | None = None) -> int:
    """Set the review of these violations; returns how many rows exist and were updated."""
    ids = sorted(set(ids))
    if not ids or any(not HEX_ID.match(i) for i in ids):
        raise BadQuery("no valid violation ids given")
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise BadQuery(f"the note is longer than {MAX_NOTE} characters")
    stmt = (update(Violation).where(Violation.id.in_(ids))
            .values(review_status=status, review_note=note, reviewed_by=user,
                    reviewed_at=_bind(now or dt.datetime.now(dt.UTC))))
    count = session.execute(stmt).rowcount
    session.commit()
    return int(count or 0)


def _hour_bucket(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        # timezone('UTC', timestamptz) is a UTC wall-clock time whatever the session's TimeZone
        return func.date_trunc(literal_column("'hour'"), func.timezone(literal_column("'UTC'"), Violation.first_seen))
    return func.strftime(literal_column("'%Y-%m-%d %H:00:00'"), Violation.first_seen)


def _as_hour(value) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return as_utc(value)


def hourly_counts(session: Session, start: dt.datetime, end: dt.datetime,
                  include_false_positives: bool = False) -> dict[str, dict[dt.datetime, int]]:
    """Violations per camera per UTC hour in [start, end)."""
    bucket = _hour_bucket(session).label("hour")
    flt = ViolationFilter(start=start, end=end)
    stmt = select(Violation.camera_id, bucket, func.count()).where(*flt.clauses())
    if not include_false_positives:
        stmt = stmt.where(Violation.review_status != ReviewStatus.false_positive)
    out: dict[str, dict[dt.datetime, int]] = defaultdict(dict)
    for cam, hour, n in session.execute(stmt.group_by(Violation.camera_id, bucket)):
        out[cam][_as_hour(hour)] = int(n)
    return dict(out)


def daily_counts(hourly: dict[str, dict[dt.datetime, int]]) -> dict[str, dict[dt.date, int]]:
    """Per camera per UTC day, summed from hourly_counts (one query serves both charts)."""
    out: dict[str, dict[dt.date, int]] = {}
    for cam, hours in hourly.items():
        days: dict[dt.date, int] = defaultdict(int)
        for hour, n in hours.items():
            days[hour.date()] += n
        out[cam] = dict(days)
    return out


@dataclass(frozen=True)
class Compliance:
    camera_id: str
    people: int
    violations: int

    @property
    def rate(self) -> float | None:
        """1 - violations/people, clamped to 0..1; None without people."""
        if self.people <= 0:
            return None
        return min(1.0, max(0.0, 1.0 - self.violations / self.people))


def compliance(session: Session, start: dt.datetime, end: dt.datetime) -> list[Compliance]:
    """People and violations per camera over [start, end), from the hourly camera_hours rows."""
    stmt = (select(CameraHour.camera_id, func.sum(CameraHour.people), func.sum(CameraHour.violations))
            .where(CameraHour.hour >= _bind(start), CameraHour.hour < _bind(end))
            .group_by(CameraHour.camera_id).order_by(CameraHour.camera_id))
    return [Compliance(cam, int(p or 0), int(v or 0)) for cam, p, v in session.execute(stmt)]


def status_counts(session: Session) -> dict[str, int]:
    """Stored violations per review status (every status present, zero when none)."""
    counts = {s.value: 0 for s in ReviewStatus}
    stmt = select(Violation.review_status, func.count()).group_by(Violation.review_status)
    for status, n in session.execute(stmt):
        counts[ReviewStatus(status).value] = int(n)
    return counts
