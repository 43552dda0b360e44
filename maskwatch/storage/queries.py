"""Violation queries shared by the dashboard pages, its JSON API and the CSV export.

Lists are newest first (or sorted by confidence, face width or face score) and paged by KEYSET on
(sort column, id), never OFFSET: each page starts from the last row of the one before, so page
2,000 costs what page 1 costs, and the indexes ix_violations_seen_id / _camera_seen / _status_seen
(and one per other sort column) serve the ORDER BY directly.

Times are UTC. SQLite hands back naive datetimes (it stores no offset), so every time leaving this
module goes through as_utc, and every bound time is converted to UTC first.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import Select, func, literal_column, select, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from maskwatch.errors import MaskwatchError
from maskwatch.storage.tables import LABELS_OF_STATUS, CameraHour, ReviewLabel, ReviewStatus, Verdict, Violation

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
    verdict: Verdict | None = None

    def clauses(self) -> list:
        out = []
        if self.camera is not None:
            out.append(Violation.camera_id == self.camera)
        if self.status is not None:
            out.append(Violation.review_status == self.status)
        if self.verdict is not None:
            out.append(Violation.verdict == self.verdict)
        if self.start is not None:
            out.append(Violation.first_seen >= _bind(self.start))
        if self.end is not None:
            out.append(Violation.first_seen < _bind(self.end))
        if self.min_conf is not None:
            out.append(Violation.p_no_mask >= self.min_conf)
        return out


INT32 = (-(2 ** 31), 2 ** 31 - 1)  # face_width is an INTEGER column
SORT_COLUMNS = {"first_seen": Violation.first_seen, "p_no_mask": Violation.p_no_mask,
                "face_width": Violation.face_width, "face_score": Violation.face_score}


@dataclass(frozen=True)
class Sort:
    """A list order: one column (tie-broken by id), descending or ascending."""
    column: str = "first_seen"
    descending: bool = True

    @classmethod
    def parse(cls, value: str | None) -> Sort:
        """"p_no_mask" ascending, "-p_no_mask" descending; None is newest first."""
        if value is None:
            return NEWEST
        col = value.removeprefix("-")
        if col not in SORT_COLUMNS:
            raise BadQuery(f"sort: expected one of {', '.join(SORT_COLUMNS)}, optionally with a leading -")
        return cls(col, value.startswith("-"))

    def param(self) -> str:
        return ("-" if self.descending else "") + self.column

    def flipped(self) -> Sort:
        return Sort(self.column, not self.descending)


NEWEST = Sort()


@dataclass(frozen=True)
class Cursor:
    """A position in a list order: the sort value and id of a row (first_seen, or what `column` says)."""
    value: dt.datetime | float | int
    id: str
    column: str = "first_seen"

    @classmethod
    def of(cls, row: Violation, column: str = "first_seen") -> Cursor:
        value = getattr(row, column)
        return cls(as_utc(value) if column == "first_seen" else value, row.id, column)

    def encode(self) -> str:
        if self.column == "first_seen":
            delta = as_utc(self.value) - EPOCH
            micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
            raw = f"{micros}:{self.id}"   # the format of the first cursors: old links keep working
        else:
            raw = f"{self.column}:{self.value!r}:{self.id}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            if len(token) > 160:
                raise ValueError
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
            parts = raw.split(":")
            if len(parts) == 2:
                value, vid, column = EPOCH + dt.timedelta(microseconds=int(parts[0])), parts[1], "first_seen"
            else:
                column, number, vid = parts
                value = int(number) if column == "face_width" else float(number)
                if column not in SORT_COLUMNS or column == "first_seen" or not math.isfinite(value):
                    raise ValueError
                if column == "face_width" and not INT32[0] <= value <= INT32[1]:
                    raise ValueError  # the column's own range: a larger one cannot be bound to the query
        except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError):
            raise BadQuery("invalid page cursor") from None
        if not HEX_ID.match(vid):
            raise BadQuery("invalid page cursor")
        return cls(value, vid, column)

    def key(self) -> tuple:
        value = _bind(self.value) if self.column == "first_seen" else self.value
        return (value, self.id)


@dataclass
class Page:
    rows: list[Violation]
    newer: Cursor | None   # pass as `after` for the page before (earlier in the order); None on the first
    older: Cursor | None   # pass as `before` for the next page (later in the order); None on the last


def page_statement(flt: ViolationFilter, limit: int, before: Cursor | None = None,
                   after: Cursor | None = None, sort: Sort = NEWEST) -> Select:
    """Rows strictly after `before` in the sort order, or strictly before `after` (then in reverse)."""
    for c in (before, after):
        if c is not None and c.column != sort.column:
            raise BadQuery("this page cursor belongs to another sort order")
    col = SORT_COLUMNS[sort.column]
    stmt = select(Violation).where(*flt.clauses()).limit(limit)
    key = tuple_(col, Violation.id)
    # a row-value comparison, so PostgreSQL turns it into an index range, not a filter
    forward = (col.desc(), Violation.id.desc()) if sort.descending else (col.asc(), Violation.id.asc())
    backward = (col.asc(), Violation.id.asc()) if sort.descending else (col.desc(), Violation.id.desc())
    if after is not None:
        bound = tuple_(*after.key())
        return stmt.where(key > bound if sort.descending else key < bound).order_by(*backward)
    if before is not None:
        bound = tuple_(*before.key())
        stmt = stmt.where(key < bound if sort.descending else key > bound)
    return stmt.order_by(*forward)


def fetch_page(session: Session, flt: ViolationFilter, limit: int, before: Cursor | None = None,
               after: Cursor | None = None, sort: Sort = NEWEST) -> Page:
    """One page of `limit` rows in the sort order (newest first by default), and its neighbours' cursors."""
    rows = list(session.scalars(page_statement(flt, limit + 1, before, after, sort)))
    more = len(rows) > limit
    rows = rows[:limit]
    if after is not None:
        rows.reverse()
        newer = Cursor.of(rows[0], sort.column) if more and rows else None
        older = Cursor.of(rows[-1], sort.column) if rows else None
    else:
        newer = Cursor.of(rows[0], sort.column) if before is not None and rows else None
        older = Cursor.of(rows[-1], sort.column) if more else None
    return Page(rows, newer, older)


@dataclass
class NewSince:
    count: int                    # rows created after `since` that match the filter
    latest: dt.datetime | None    # the newest created_at among them (the next poll's `since`)
    rows: list[Violation]         # the newest few of them


def latest_created(session: Session, flt: ViolationFilter) -> dt.datetime | None:
    """When the newest matching row was written: where a list page starts watching for new ones."""
    value = session.scalar(select(func.max(Violation.created_at)).where(*flt.clauses()))
    return as_utc(value) if value is not None else None


def new_since(session: Session, flt: ViolationFilter, since: dt.datetime, limit: int = 5) -> NewSince:
    """Matching rows written after `since` (by the database's created_at: a late violation with an
    old first_seen still counts as new)."""
    clauses = [*flt.clauses(), Violation.created_at > _bind(since)]
    count, latest = session.execute(select(func.count(), func.max(Violation.created_at)).where(*clauses)).one()
    rows = list(session.scalars(select(Violation).where(*clauses)
                                .order_by(Violation.created_at.desc(), Violation.id.desc()).limit(limit)))
    return NewSince(int(count), as_utc(latest) if latest is not None else None, rows)


def iter_filtered(sessions: sessionmaker[Session], flt: ViolationFilter, batch: int = 1000,
                  sort: Sort = NEWEST) -> Iterator[Violation]:
    """Every matching row in the sort order, in keyset batches with a short session each (CSV export)."""
    cursor = None
    while True:
        with sessions() as s:
            rows = list(s.scalars(page_statement(flt, batch, before=cursor, sort=sort)))
        yield from rows
        if len(rows) < batch:
            return
        cursor = Cursor.of(rows[-1], sort.column)


def get_violation(session: Session, vid: str) -> Violation | None:
    if not HEX_ID.match(vid or ""):
        return None
    return session.get(Violation, vid)


def review(session: Session, ids: Iterable[str], status: ReviewStatus, note: str | None, user: str,
           now: dt.datetime | None = None, label: ReviewLabel | None = None) -> int:
    """Set the review of these violations; returns how many rows exist and were updated. `label`,
    what the face is, must fit the status (LABELS_OF_STATUS); none: as the model said."""
    ids = sorted(set(ids))
    if not ids or any(not HEX_ID.match(i) for i in ids):
        raise BadQuery("no valid violation ids given")
    if label is not None and label not in LABELS_OF_STATUS[status]:
        raise BadQuery(f"label {label.value} does not go with status {status.value}")
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise BadQuery(f"the note is longer than {MAX_NOTE} characters")
    stmt = (update(Violation).where(Violation.id.in_(ids))
            .values(review_status=status, review_note=note, reviewed_by=user, review_label=label,
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


def verdict_counts(session: Session, start: dt.datetime, end: dt.datetime) -> dict[str, dict[str, int]]:
    """Violations per camera and verdict in [start, end), false positives left out (as in hourly_counts)."""
    flt = ViolationFilter(start=start, end=end)
    stmt = (select(Violation.camera_id, Violation.verdict, func.count()).where(*flt.clauses())
            .where(Violation.review_status != ReviewStatus.false_positive)
            .group_by(Violation.camera_id, Violation.verdict))
    out: dict[str, dict[str, int]] = defaultdict(lambda: {v.value: 0 for v in Verdict})
    for cam, verdict, n in session.execute(stmt):
        out[cam][Verdict(verdict).value] = int(n)
    return dict(out)


@dataclass(frozen=True)
class Compliance:
    camera_id: str
    people: int
    violations: int
    not_judged: int = 0  # people never seen well enough to tell: neither compliant nor violations
    still: int = 0       # still faces (pictures) not reported
    watched_s: int = 0   # seconds of the range the camera's frames were processed (its coverage)

    @property
    def rate(self) -> float | None:
        """1 - violations/people, clamped to 0..1; None without people."""
        if self.people <= 0:
            return None
        return min(1.0, max(0.0, 1.0 - self.violations / self.people))


def compliance(session: Session, start: dt.datetime, end: dt.datetime) -> list[Compliance]:
    """People, violations, people not judged and still faces per camera over [start, end), from
    the hourly camera_hours rows."""
    stmt = (select(CameraHour.camera_id, func.sum(CameraHour.people), func.sum(CameraHour.violations),
                   func.sum(CameraHour.not_judged), func.sum(CameraHour.still), func.sum(CameraHour.watched_s))
            .where(CameraHour.hour >= _bind(start), CameraHour.hour < _bind(end))
            .group_by(CameraHour.camera_id).order_by(CameraHour.camera_id))
    return [Compliance(cam, int(p or 0), int(v or 0), int(n or 0), int(s or 0), int(w or 0))
            for cam, p, v, n, s, w in session.execute(stmt)]


def status_counts(session: Session) -> dict[str, int]:
    """Stored violations per review status (every status present, zero when none)."""
    counts = {s.value: 0 for s in ReviewStatus}
    stmt = select(Violation.review_status, func.count()).group_by(Violation.review_status)
    for status, n in session.execute(stmt):
        counts[ReviewStatus(status).value] = int(n)
    return counts
