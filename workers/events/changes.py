"""What a tracker step means for the database, as typed values: pure, unit-testable without servers.

One id scheme for violations: sha1 of camera, the entry id and face index of the sighting whose
arrival passed the vote. A replay fires at the same sighting, so the id, and the row, are the same.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from dataclasses import dataclass, field

from maskwatch.rule import verdict
from maskwatch.storage.tables import utc
from maskwatch.workers.identity import Identity, Registry
from maskwatch.workers.tracker import Sighting, State, Step


def violation_id(camera: str, entry_id: str, face: int) -> str:
    return hashlib.sha1(f"{camera}|{entry_id}|{face}".encode()).hexdigest()[:32]


def hour_of(ts: float) -> dt.datetime:
    return utc(ts).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class NewViolation:
    id: str
    camera: str
    track_id: int
    first_seen: float
    last_seen: float
    sightings: int
    best: Sighting    # the evidence: crop, frame and the numbers shown
    model_version: str
    decided_at: float = 0.0  # capture time of the sighting that passed the vote: the clip's middle

    @property
    def verdict(self) -> str:
        """Which violation: the verdict of the sighting kept as its evidence (what the snapshot shows)."""
        return verdict(True, self.best.p_incorrect)


@dataclass(frozen=True)
class Stored:
    """A violation this process created: where its snapshots went."""
    violation: NewViolation
    crop_path: str
    frame_path: str


@dataclass(frozen=True)
class Extension:
    """A violator seen for longer (or again): the row's last_seen and sightings move forward only."""
    violation_id: str
    last_seen: float
    sightings: int


@dataclass
class Changes:
    camera: str
    new: list[NewViolation] = field(default_factory=list)
    extend: list[Extension] = field(default_factory=list)
    hours: Counter = field(default_factory=Counter)  # (hour, kind) -> n, kind one of HOUR_COUNTS; the store
    # counts "violations" itself, for the rows it creates (a replay creates none)

    def __bool__(self) -> bool:
        return bool(self.new or self.extend or self.hours)


def _extension(camera: str, ident: Identity) -> Extension:
    entry_id, face = ident.violation
    return Extension(violation_id(camera, entry_id, face), ident.last_seen, ident.sightings)


def extensions(camera: str, registry: Registry) -> Changes:
    """Violators seen since their row was last written: their last_seen and sightings, so that
    nothing acked is ahead of the database (the service writes these before every ack)."""
    return Changes(camera, extend=[_extension(camera, i) for i in registry.committed() if i.unwritten])


def changes_of(camera: str, step: Step) -> Changes:
    out = Changes(camera)
    for tr in step.fired:
        out.new.append(NewViolation(violation_id(camera, tr.fired.entry_id, tr.fired.face), camera, tr.id,
                                    tr.first_seen, tr.last_seen, tr.count, tr.best,
                                    getattr(tr.fired.info, "model_version", ""), tr.fired.captured_at))
    for tr in step.rejoined:
        out.extend.append(_extension(camera, tr.identity))
    for tr in step.ended:
        hour = hour_of(tr.first_seen)
        out.hours[hour, "sightings"] += tr.count
        # compliance counts people seen where and when a mask is required (the camera's policy)
        # and seen well enough to judge; those never seen well enough are counted apart
        if tr.tally:
            out.hours[hour, tr.tally] += 1
        if tr.state in (State.VIOLATION, State.REJOINED):
            out.extend.append(_extension(camera, tr.identity))
    return out
