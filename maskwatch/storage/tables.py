"""SQLAlchemy 2.0 typed models, shared by the events service and the dashboard.

Times are stored as timezone-aware UTC. A violation's id is deterministic (camera, track start),
so replaying the same detections never creates a second row.
"""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Boolean, DateTime, Enum, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from maskwatch.geometry import box_width


class Base(DeclarativeBase):
    pass


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def utc(ts: float) -> dt.datetime:
    """A Unix time (capture times on the wire) as the aware UTC datetime the rows hold."""
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def _width_of_box(context) -> int:
    return box_width(context.get_current_parameters().get("box"))


class ReviewStatus(str, enum.Enum):
    pending = "pending"
    confirmed = "confirmed"
    false_positive = "false_positive"


class Verdict(str, enum.Enum):
    """Which violation (maskwatch.detections.VERDICTS less "mask")."""
    no_mask = "no_mask"
    mask_incorrect = "mask_incorrect"  # under the nose or on the chin: a reminder at most sites


class ReviewLabel(str, enum.Enum):
    """What the operator says the face is: a label for retraining (`maskwatch export-reviews`)."""
    no_mask = "no_mask"                # confirmed
    mask_incorrect = "mask_incorrect"  # confirmed, worn under the nose or on the chin
    mask = "mask"                      # false positive: the person wears a mask
    not_a_face = "not_a_face"          # false positive: a poster, a painting, a bag


# which labels go with which review status
LABELS_OF_STATUS = {ReviewStatus.confirmed: (ReviewLabel.no_mask, ReviewLabel.mask_incorrect),
                    ReviewStatus.false_positive: (ReviewLabel.mask, ReviewLabel.not_a_face),
                    ReviewStatus.pending: ()}


class Role(str, enum.Enum):
    viewer = "viewer"
    operator = "operator"
    admin = "admin"


class Violation(Base):
    __tablename__ = "violations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    track_id: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # capture time of the snapshot's frame (the evidence); NULL on rows from before 0002
    evidence_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    p_no_mask: Mapped[float] = mapped_column(Float)
    verdict: Mapped[Verdict] = mapped_column(Enum(Verdict, name="verdict", native_enum=False, length=20),
                                             default=Verdict.no_mask, server_default=Verdict.no_mask.value)
    face_score: Mapped[float] = mapped_column(Float)
    box: Mapped[list] = mapped_column(JSON)  # [x1, y1, x2, y2] in frame pixels
    # the box's width, a column so that the list can sort by it; filled from box on every insert
    face_width: Mapped[int] = mapped_column(Integer, default=_width_of_box, server_default="0")
    frame_width: Mapped[int] = mapped_column(Integer)
    frame_height: Mapped[int] = mapped_column(Integer)
    sightings: Mapped[int] = mapped_column(Integer)
    crop_path: Mapped[str] = mapped_column(String(255))   # relative to the snapshot dir
    frame_path: Mapped[str] = mapped_column(String(255))
    # the clip around the decisive sighting (H.264 MP4), NULL until ingest sent it, or when it had none
    clip_path: Mapped[str | None] = mapped_column(String(255), default=None)
    model_version: Mapped[str] = mapped_column(String(64))
    review_status: Mapped[ReviewStatus] = mapped_column(
        Enum(ReviewStatus, name="review_status", native_enum=False, length=20), default=ReviewStatus.pending)
    review_note: Mapped[str | None] = mapped_column(Text, default=None)
    review_label: Mapped[ReviewLabel | None] = mapped_column(
        Enum(ReviewLabel, name="review_label", native_enum=False, length=20), default=None)
    reviewed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        # keyset pagination: newest first, tie-broken by id, per camera and per status
        Index("ix_violations_seen_id", "first_seen", "id"),
        Index("ix_violations_camera_seen", "camera_id", "first_seen", "id"),
        Index("ix_violations_status_seen", "review_status", "first_seen", "id"),
        # the list's other sort orders, and the "new since" poll
        Index("ix_violations_p_id", "p_no_mask", "id"),
        Index("ix_violations_width_id", "face_width", "id"),
        Index("ix_violations_score_id", "face_score", "id"),
        Index("ix_violations_created", "created_at"),
        Index("ix_violations_verdict_seen", "verdict", "first_seen", "id"),
    )


class CameraHour(Base):
    """Per camera and hour: people tracked and judged, violations (compliance rates), people never
    seen well enough to judge, and still faces (pictures) that were not reported."""
    __tablename__ = "camera_hours"

    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    people: Mapped[int] = mapped_column(Integer, default=0)
    violations: Mapped[int] = mapped_column(Integer, default=0)
    sightings: Mapped[int] = mapped_column(Integer, default=0)
    not_judged: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    still: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    watched_s: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # seconds of frames processed


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(Enum(Role, name="role", native_enum=False, length=20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # part of every session's id: bumping it ends all of this user's sessions on their next request
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class TokenScope(str, enum.Enum):
    read = "read"      # GET /api/*
    review = "review"  # and reviews (POST /api/violations/<id>/review)


class ApiToken(Base):
    """A machine's access to /api/*: only a SHA-256 of the token is kept (the token itself, 256
    random bits, is shown once), with its scope, who made it, its last use and its revocation."""
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(12))  # the token's first characters, to tell tokens apart
    scope: Mapped[TokenScope] = mapped_column(Enum(TokenScope, name="token_scope", native_enum=False, length=10))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ReportRun(Base):
    """A scheduled report sent for one period: the row is written in the same transaction that marks
    it sent, so a restart never sends a period twice, and a failed send is tried again."""
    __tablename__ = "report_runs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    period_start: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    recipients: Mapped[int] = mapped_column(Integer)


class LoginCounter(Base):
    """Failed-login counters shared by every dashboard process (without Redis): one row per hashed
    key (a user name + client address, or an address), until its window ends."""
    __tablename__ = "login_counters"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[float] = mapped_column(Float, index=True)  # unix seconds: the same on every backend


class OutboxMessage(Base):
    """An alert to deliver to one sink, written in the same transaction as what it reports (a
    violation row, an incident's change), deleted some days after delivery. Delivered at least
    once; receivers deduplicate by message_id (in every payload)."""
    __tablename__ = "alert_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sink: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[str] = mapped_column(String(96))   # violation:<id>, incident:<id>:opened|closed
    kind: Mapped[str] = mapped_column(String(16))          # violation | incident
    camera_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, default=0.0)   # unix seconds
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    last_error: Mapped[str | None] = mapped_column(String(300), default=None)

    __table_args__ = (
        UniqueConstraint("sink", "message_id", name="uq_alert_outbox_sink_message"),
        Index("ix_alert_outbox_due", "delivered_at", "next_attempt_at"),
    )


class Incident(Base):
    """A camera-health problem from when it started to when it ended (NULL while open)."""
    __tablename__ = "camera_incidents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)   # sha1 of camera, kind, start
    camera_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))                    # offline | frozen | dark | saturated | slow
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    detail: Mapped[str] = mapped_column(String(300), default="")

    __table_args__ = (Index("ix_camera_incidents_camera_start", "camera_id", "started_at"),)


class Camera(Base):
    """The site's cameras, edited at runtime on the dashboard; the config file's `cameras:` seed it
    (maskwatch.storage.cameras). `spec` is the camera's entry as written, ${ENV} placeholders kept:
    no secret is ever stored here. A removed camera keeps its row, so the file does not bring it back."""
    __tablename__ = "cameras"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)          # the order cameras are listed in
    spec: Mapped[dict] = mapped_column(JSON)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer)           # the list's version when this row last changed
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64), default="")   # a username, or "config file"
