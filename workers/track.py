"""A track of one face on one camera, and the sightings it is made of: the tracker's records
(workers.tracker decides; these keep what it decided from, and what a track has shown)."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from maskwatch.geometry import Box, moved_box
from maskwatch.rule import Rule
from maskwatch.workers.identity import TRAIL, Identity, Match, center, shift, unit

SMOOTHING = 0.5     # weight of the newest velocity sample: jitter averages out, turns still register
APPEARANCE_EMA = 0.9  # BoT-SORT's: a track's look changes slowly, one odd frame does not move it
WINDOW_EMBEDDINGS = 8  # recent embeddings a track averages into its prototype for identity matching


@dataclass(frozen=True, slots=True, eq=False)
class Sighting:
    """One face in one detections entry. `info` is opaque here: the caller's frame context."""
    captured_at: float
    box: Box
    p_no_mask: float
    threshold: float
    entry_id: str
    face: int
    score: float = 1.0
    crop: bytes = b""
    frame: bytes | None = None
    info: object = None
    min_score: float = 0.0
    embedding: np.ndarray | None = None  # unit vector, or None when the face was not classified
    required: bool = True  # under the camera's mask policy (zone and schedule): only then can it vote no_mask
    p_incorrect: float = 0.0  # share of p_no_mask that says "mask worn incorrectly" (three-verdict models)

    @property
    def no_mask(self) -> bool:
        return self.no_mask_at(self.min_score)

    def no_mask_at(self, min_score: float) -> bool:
        """The rule's verdict at another minimum face score (a face on a track already seen sure)."""
        return self.required and bool(Rule(self.threshold, min_score).violates(self.p_no_mask, self.score))


class State(enum.Enum):
    VOTING = "voting"
    VIOLATION = "violation"  # fired: at most one violation per track
    STILL = "still"          # a face that never moved: a picture, never a violation
    REJOINED = "rejoined"    # passed the vote as a violator seen before: their violation goes on


@dataclass(eq=False)
class Track:
    id: int
    first_seen: float
    last_seen: float
    box: Box
    vx: float = 0.0
    vy: float = 0.0
    count: int = 0
    state: State = State.VOTING
    window: list[Sighting] = field(default_factory=list)  # the last vote_n sightings, by capture time
    fired: Sighting | None = None  # the sighting whose arrival passed the vote (names the violation)
    best: Sighting | None = None   # evidence: highest p_no_mask in the window when the vote passed
    appearance: np.ndarray | None = None  # EMA of the embeddings, for association
    recent: list[np.ndarray] = field(default_factory=list)  # for the identity prototype
    identity: Identity | None = None
    rejoin: Match | None = None  # the evidence, when it rejoined an earlier violator
    new_person: bool = False  # set when the track ends: nobody seen before on this camera
    under_policy: bool = False  # seen at least once where and when a mask is required (compliance counts it)
    trail: list[tuple[float, Box]] = field(default_factory=list)  # recent (time, box), in time order
    judged: int = 0        # sightings large and sure enough to tell a mask (Tracker.can_tell)
    sure_since: float | None = None  # when it first showed a face at the rule's minimum face score
    held: bool = False     # passed the vote while it had not moved: waits to move (a picture never does)
    lo: tuple[float, float] | None = None  # the extents of the centre over the whole track
    hi: tuple[float, float] | None = None
    width_sum: float = 0.0

    @property
    def reach(self) -> float:
        """How far the face's centre has wandered (its larger range), in its mean widths."""
        if self.lo is None or self.width_sum <= 0:
            return 0.0
        mean = self.width_sum / max(1, self.count)
        return max(self.hi[0] - self.lo[0], self.hi[1] - self.lo[1]) / mean

    @property
    def picture(self) -> bool:
        """Held as a still face, or found to be one: not a person."""
        return self.state is State.STILL or (self.held and self.state is State.VOTING)

    @property
    def tally(self) -> str | None:
        """What this track, once ended, adds to its camera's hour: "people" (a person judged where and
        when a mask is required), "not_judged" (one never seen well enough to tell), "still" (a
        picture), or None (a flicker, outside the mask policy, or someone counted before)."""
        if self.picture:
            return "still"
        if not (self.new_person and self.under_policy):
            return None
        return "people" if self.judged else "not_judged"

    def _extend(self, box: Box) -> None:
        x, y = center(box)
        self.lo = (x, y) if self.lo is None else (min(self.lo[0], x), min(self.lo[1], y))
        self.hi = (x, y) if self.hi is None else (max(self.hi[0], x), max(self.hi[1], y))
        self.width_sum += max(0.0, box[2] - box[0])

    def warp(self, m) -> None:
        """The camera moved by `m` (2x3, the last frame's pixels to the next's): the track's place,
        path and velocity move with the picture, so that only the person's own walk is left.

        How far the face wandered (`reach`, the still-face rule) stays in the picture's pixels, as
        it was measured: a poster on a camera that pans moves in the picture, as before. In the
        camera's own coordinates a photo drifting across the screen (a slideshow, the demo clip)
        would be a picture forever."""
        self.box = moved_box(m, self.box)
        self.trail = [(t, moved_box(m, b)) for t, b in self.trail]
        self.vx, self.vy = m[0][0] * self.vx + m[0][1] * self.vy, m[1][0] * self.vx + m[1][1] * self.vy

    def predict(self, t: float, horizon: float) -> Box:
        # extrapolate only a little: beyond the track gap a person's path is anyone's guess
        dt = min(max(t - self.last_seen, -horizon), horizon)
        return shift(self.box, self.vx * dt, self.vy * dt)

    def sightings_after(self, t: float) -> int:
        """How many of this track's sightings are newer than `t`, as far as it still knows: all of
        them when it began after `t`, else those of its vote window (entries replayed after a
        crash are older, and were counted before it)."""
        return self.count if self.first_seen > t else sum(x.captured_at > t for x in self.window)

    @property
    def prototype(self) -> np.ndarray | None:
        return unit(np.mean(self.recent, axis=0)) if self.recent else None

    def follow(self, s: Sighting) -> None:
        """Move to a sighting newer than the last one; an older one only widens first_seen."""
        self._extend(s.box)
        trail = sorted(self.trail + [(s.captured_at, s.box)])
        # bounded, but the first point stays: where and when the track appeared
        self.trail = trail if len(trail) <= TRAIL else [trail[0]] + trail[-(TRAIL - 1):]
        if s.embedding is not None:
            a, e = self.appearance, s.embedding
            if a is not None and a.shape != e.shape:  # another model's embeddings: start afresh
                a, self.recent = None, []
            self.appearance = e if a is None else unit(APPEARANCE_EMA * a + (1 - APPEARANCE_EMA) * e)
            self.recent = (self.recent + [s.embedding])[-WINDOW_EMBEDDINGS:]
        dt = s.captured_at - self.last_seen
        if dt < 0:
            self.first_seen = min(self.first_seen, s.captured_at)
            return
        if dt > 0:
            (x0, y0), (x1, y1) = center(self.box), center(s.box)
            vx, vy = (x1 - x0) / dt, (y1 - y0) / dt
            first = self.count <= 2  # no estimate yet: take the sample as it is
            self.vx = vx if first else SMOOTHING * vx + (1 - SMOOTHING) * self.vx
            self.vy = vy if first else SMOOTHING * vy + (1 - SMOOTHING) * self.vy
        self.box, self.last_seen = s.box, s.captured_at
