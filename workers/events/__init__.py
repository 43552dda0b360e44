"""The events service as a package: small parts with typed values between them.

service (the loop) -> feed (reorder per camera) -> workers.tracker (tracks, vote, identities)
-> changes (a step as NewViolation / Extension / hour counts) -> store (one transaction, retried)
-> ledger (acks after commit); memory persists violators' identities; render draws snapshots.
"""
from maskwatch.workers.events.changes import NewViolation, violation_id
from maskwatch.workers.events.render import FrameInfo, render_frame
from maskwatch.workers.events.service import GROUP, EventsService
from maskwatch.workers.events.validate import check

__all__ = ["GROUP", "EventsService", "FrameInfo", "NewViolation", "check", "render_frame", "violation_id"]
