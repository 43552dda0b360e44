"""Who a track is: per-camera identities from appearance embeddings, for dedup and people counts.

Pure (numpy, no I/O). An identity is one person seen on this camera within the revisit window:
a few exemplar embeddings (unit vectors from the classifier's pass), where and when they were last
seen, and, for a violator, the sighting that named their violation. A new violating track is the
same person as an earlier violator only when

- its appearance matches (cosine similarity >= `identity_threshold`, best of the identity's
  exemplars and its mean against the track's mean), or, for a track that begins *on course* (where
  the identity, walking, would be by now, a few seconds after it was lost, heading the same way:
  someone who passed behind a pillar), >= the lower `on_course_threshold`, because a walker's
  crops change with the backdrop and the pose along the way (measured on the occlusion clips,
  docs/tracking-and-identity.md), and
- place and time are plausible: where the identity and the track were both seen in one frame they
  were at the same place (two faces in view at once are two people; the same face seen twice at
  once is a replay after a crash), where they took turns a frame or two apart each was within a
  walk of the other (one face the tracker split in two tracks), and from where the identity was
  last seen to where the track appeared the distance is walkable in the time between.

Without embeddings (a model that has none) an identity is matched by place alone, and only within
the track gap: the old "same spot" rule, narrowed to the one case where it is right.

Descriptors never leave memory except through `Identity.to_record` into Redis, for the revisit
window only (the events service sets the key's TTL); nothing here is written to SQL or files.
"""
from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field

import numpy as np

from maskwatch.geometry import moved_box

Box = tuple[float, float, float, float]
EXEMPLARS = 4            # embeddings kept per identity: a few poses, bounded memory
TRAIL = 24               # (time, box) points kept per identity, to tell a replay from a second person
SAME_MOMENT_S = 0.3      # two sightings this close in time overlap: a frame or so apart
MAX_IDENTITIES = 2000    # per camera; the oldest people without a violation go first
MAX_SPEED_WIDTHS_S = 12.0  # a walking face covers about 9 of its widths a second
# on course: lost at most this long (constant velocity says little beyond), seen walking over the
# last VELOCITY_S of its trail, and found again within a width and a half of where that walk leads,
# plus a third of the way it covered (people slow down and speed up behind a pillar)
ON_COURSE_MAX_GAP_S = 10.0
VELOCITY_S = 2.0
MIN_TRAVEL_WIDTHS = 1.0  # less is standing still: someone else at that spot is someone else
ON_COURSE_WIDTHS, ON_COURSE_SPREAD = 1.5, 1 / 3
SAME_HEADING = 0.5       # cosine between the identity's and the track's directions


Point = tuple[float, Box]  # (capture time, box)


def unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def center(b: Box) -> tuple[float, float]:
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2


def shift(b: Box, dx: float, dy: float) -> Box:
    return b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy


def center_spacing(a: Box, b: Box) -> float:
    """Distance between box centres in mean box widths."""
    (ax, ay), (bx, by) = center(a), center(b)
    width = max(((a[2] - a[0]) + (b[2] - b[0])) / 2, 1e-6)
    return math.hypot(ax - bx, ay - by) / width


def velocity(trail: list[Point]) -> tuple[float, float] | None:
    """Pixels a second over the last VELOCITY_S of a trail (in time order); None over less than 0.3 s."""
    if not trail:
        return None
    t1, b1 = trail[-1]
    t0, b0 = next(p for p in trail if p[0] >= t1 - VELOCITY_S)
    if t1 - t0 < 0.3:
        return None
    (x0, y0), (x1, y1) = center(b0), center(b1)
    return (x1 - x0) / (t1 - t0), (y1 - y0) / (t1 - t0)


def on_course(lost: list[Point], found: list[Point]) -> bool:
    """Whether a track seen at the points of `found` begins where the walk of `lost` (an earlier
    trail) leads, a few seconds later, heading the same way."""
    if not lost or not found:
        return False
    (t_lost, b_lost), (t_found, b_found) = lost[-1], found[0]
    gap, v = t_found - t_lost, velocity(lost)
    if not 0 < gap <= ON_COURSE_MAX_GAP_S or v is None:
        return False
    expected = shift(b_lost, v[0] * gap, v[1] * gap)
    travel = center_spacing(b_lost, expected)  # in widths
    if travel < MIN_TRAVEL_WIDTHS:
        return False
    if center_spacing(expected, b_found) > ON_COURSE_WIDTHS + ON_COURSE_SPREAD * travel:
        return False
    u = velocity(found)  # a track too short to have a heading is judged by where it began
    return u is None or u[0] * v[0] + u[1] * v[1] >= SAME_HEADING * math.hypot(*u) * math.hypot(*v)


@dataclass(eq=False)
class Identity:
    first_seen: float
    last_seen: float
    box: Box
    exemplars: list[np.ndarray] = field(default_factory=list)
    violation: tuple[str, int] | None = None  # (entry id, face) of the sighting that fired
    sightings: int = 0                        # over every track of this person (violators)
    dirty: bool = True                        # changed since last persisted
    committed: bool = False                   # its violation's row is in the database: may persist
    unwritten: bool = False                   # last_seen / sightings ahead of the row
    trail: list[Point] = field(default_factory=list)

    @property
    def mean(self) -> np.ndarray | None:
        return unit(np.mean(self.exemplars, axis=0)) if self.exemplars else None

    def similarity(self, proto: np.ndarray | None) -> float | None:
        if proto is None or not self.exemplars or self.exemplars[0].shape != proto.shape:
            return None  # no appearance, or another model's (a rolling upgrade): unknown
        return max(float(self.mean @ proto), max(float(e @ proto) for e in self.exemplars))

    def observe(self, t: float, box: Box, embedding: np.ndarray | None, count: int = 1) -> None:
        """Seen again at `t`; `count` new sightings. Only sightings newer than any counted before
        count, so entries replayed after a crash are not counted twice."""
        if t > self.last_seen:
            self.last_seen, self.box = t, box
            self.sightings += count
            self.unwritten = True
        self.trail = sorted(self.trail + [(t, box)])[-TRAIL:]
        self.first_seen = min(self.first_seen, t)
        if embedding is not None:
            self.add_exemplar(embedding)
        self.dirty = True

    def add_exemplar(self, e: np.ndarray) -> None:
        if self.exemplars and self.exemplars[0].shape != e.shape:
            self.exemplars = []  # a new model's embeddings: the old ones cannot be compared
        # keep the most different views: replace the exemplar closest to the new one
        if len(self.exemplars) < EXEMPLARS:
            self.exemplars.append(e)
            return
        sims = [float(x @ e) for x in self.exemplars]
        if max(sims) < 0.97:
            self.exemplars[int(np.argmax(sims))] = e

    def warp(self, m) -> None:
        """The camera moved by `m` (2x3, the last frame's pixels to the next's): where this person
        was seen moves with the picture."""
        self.box = moved_box(m, self.box)
        self.trail = [(t, moved_box(m, b)) for t, b in self.trail]

    def to_record(self) -> dict:
        return {"first": self.first_seen, "last": self.last_seen, "box": list(self.box),
                "violation": list(self.violation) if self.violation else None, "sightings": self.sightings,
                "trail": [[t, *b] for t, b in self.trail],
                "ex": [base64.b64encode(np.asarray(e, "<f2").tobytes()).decode() for e in self.exemplars]}

    @classmethod
    def from_record(cls, r: dict) -> Identity:
        v = r.get("violation")
        ex = [unit(np.frombuffer(base64.b64decode(s), "<f2").astype(np.float32)) for s in r.get("ex", [])]
        x1, y1, x2, y2 = (float(b) for b in r["box"])
        trail = [(float(p[0]), tuple(float(x) for x in p[1:5])) for p in r.get("trail", [])]
        return cls(float(r["first"]), float(r["last"]), (x1, y1, x2, y2), ex,
                   (str(v[0]), int(v[1])) if v else None, int(r.get("sightings", 0)), dirty=False,
                   committed=True, trail=trail)

    @property
    def key(self) -> str:
        """Names a violator's identity in Redis: its violation's sighting."""
        return f"{self.violation[0]}|{self.violation[1]}" if self.violation else ""


@dataclass(frozen=True, slots=True)
class Match:
    """Who a track is, and on what evidence (the events service logs it)."""
    identity: Identity
    similarity: float
    on_course: bool  # judged by the lower on-course bar


class Registry:
    """The identities of one camera seen within `revisit_s` (capture time)."""

    def __init__(self, revisit_s: float, threshold: float, track_gap_s: float,
                 on_course_threshold: float | None = None):
        self.revisit_s, self.threshold, self.track_gap_s = revisit_s, threshold, track_gap_s
        self.on_course_threshold = threshold if on_course_threshold is None else on_course_threshold
        self.identities: list[Identity] = []
        self.forgotten: list[Identity] = []  # violators dropped since the caller last persisted

    def match(self, proto: np.ndarray | None, trail: list[Point], violators_only: bool) -> Match | None:
        """The identity that a track (mean embedding `proto`, seen at the points of `trail`, in
        time order) most likely is, or None."""
        best: Match | None = None
        first_seen, first_box = trail[0]
        for ident in self.identities:
            if violators_only and ident.violation is None:
                continue
            if not self._plausible(ident, trail):
                continue
            sim = ident.similarity(proto)
            course = False
            if sim is None:  # no appearance on one side: the same spot within the track gap only
                near = first_seen - ident.last_seen <= self.track_gap_s and center_spacing(ident.box, first_box) < 1.0
                sim = self.threshold if near else -1.0
            else:
                course = self.on_course_threshold < self.threshold and on_course(ident.trail, trail)
            bar = self.on_course_threshold if course else self.threshold
            if sim >= bar and (best is None or sim > best.similarity):
                best = Match(ident, sim, course)
        return best

    def _plausible(self, ident: Identity, trail: list[Point]) -> bool:
        (first_seen, first_box), (t, _) = trail[0], trail[-1]
        if abs(t - ident.last_seen) > self.revisit_s:
            return False
        gap = first_seen - ident.last_seen
        if gap > 0:  # seen again after: walkable from where they were to where the track began
            return center_spacing(ident.box, first_box) <= MAX_SPEED_WIDTHS_S * max(gap, 0.2) + 1.0
        # both seen over the same span: one person only where they took turns, each sighting within
        # a walk of the other's. Seen in one frame they must be at one place (two places are two
        # people; one place, a replay); a frame or two apart, a walk away: on a hand-held camera a
        # dancer's face jumps widths between frames and the tracker splits it in two tracks that
        # alternate (the street crossing's dancer, docs/real-footage.md)
        together = [(abs(s - u), b, q) for s, b in trail for u, q in ident.trail if abs(s - u) <= SAME_MOMENT_S]
        return bool(together) and all(center_spacing(b, q) < 1.0 + MAX_SPEED_WIDTHS_S * dt for dt, b, q in together)

    def by_violation(self, violation: tuple[str, int]) -> Identity | None:
        return next((i for i in self.identities if i.violation == violation), None)

    def add(self, ident: Identity) -> Identity:
        if ident.violation is not None:  # a replay re-fires the same sighting: one identity for it
            other = self.by_violation(ident.violation)
            if other is not None:
                return other
        self.identities.append(ident)
        if len(self.identities) > MAX_IDENTITIES:
            people = [i for i in self.identities if i.violation is None]
            drop = min(people or self.identities, key=lambda i: i.last_seen)
            self._drop([drop])
        return ident

    def discard(self, ident: Identity) -> None:
        self.identities = [i for i in self.identities if i is not ident]

    def expire(self, clock: float) -> None:
        self._drop([i for i in self.identities if clock - i.last_seen > self.revisit_s])

    def _drop(self, gone: list[Identity]) -> None:
        if not gone:
            return
        ids = {id(i) for i in gone}
        self.identities = [i for i in self.identities if id(i) not in ids]
        self.forgotten += [i for i in gone if i.violation is not None]

    def violators(self) -> list[Identity]:
        return [i for i in self.identities if i.violation is not None]

    def committed(self) -> list[Identity]:
        """Violators whose row is stored: only these may be persisted and extended."""
        return [i for i in self.identities if i.violation is not None and i.committed]
