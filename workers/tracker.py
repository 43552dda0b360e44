"""Per-camera face tracker and k-of-n no-mask vote: pure Python, no I/O.

Input is one camera's sightings in capture order (the events service restores that order; small
inversions are tolerated). Tracks are matched greedily by IoU against a constant-velocity prediction,
with a centroid-distance fallback, because at 2-5 fps a walking face's boxes barely overlap.

Every sighting handed in is returned exactly once in some `Step.settled`, when the service may ack
it: its track fired (the caller commits first) or was suppressed or ended, or the sighting dropped
out of a still-voting track's window and can no longer take part in a vote. A replay of the unsettled
sightings therefore rebuilds every open vote window and fires at the same sighting.
"""
from __future__ import annotations

import bisect
import enum
import math
from dataclasses import dataclass, field

from maskwatch.config import EventsConfig

Box = tuple[float, float, float, float]
COOLDOWN_IOU = 0.3
SMOOTHING = 0.5  # weight of the newest velocity sample: jitter averages out, turns still register


def iou(a: Box, b: Box) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def center(b: Box) -> tuple[float, float]:
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2


def spacing(a: Box, b: Box) -> float:
    """Distance between the centres, in mean box widths."""
    (ax, ay), (bx, by) = center(a), center(b)
    width = max(((a[2] - a[0]) + (b[2] - b[0])) / 2, 1e-6)
    return math.hypot(ax - bx, ay - by) / width


def shift(b: Box, dx: float, dy: float) -> Box:
    return b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy


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

    @property
    def no_mask(self) -> bool:
        return self.p_no_mask >= self.threshold and self.score >= self.min_score


@dataclass(frozen=True, slots=True)
class Mark:
    """Where and when a violating person was last seen, and how they moved (pixels per second)."""
    t: float
    box: Box
    vx: float = 0.0
    vy: float = 0.0

    def at(self, t: float, horizon: float) -> Box:
        # extrapolate only a little: beyond the track gap a person's path is anyone's guess
        dt = min(max(t - self.t, -horizon), horizon)
        return shift(self.box, self.vx * dt, self.vy * dt)

    def to_list(self) -> list[float]:
        return [self.t, *self.box, self.vx, self.vy]

    @classmethod
    def from_list(cls, v: list[float]) -> Mark:
        t, x1, y1, x2, y2, vx, vy = (float(x) for x in v)
        return cls(t, (x1, y1, x2, y2), vx, vy)


class State(enum.Enum):
    VOTING = "voting"
    VIOLATION = "violation"    # fired: at most one violation per track
    SUPPRESSED = "suppressed"  # the vote passed inside another violation's cooldown


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

    def predict(self, t: float, horizon: float) -> Box:
        return self.mark().at(t, horizon)

    def mark(self) -> Mark:
        return Mark(self.last_seen, self.box, self.vx, self.vy)

    def follow(self, s: Sighting) -> None:
        """Move to a sighting newer than the last one; an older one only widens first_seen."""
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


@dataclass
class Step:
    """What one update changed. The caller commits `fired` before it acks `settled`."""
    matched: list[tuple[Track, Sighting]] = field(default_factory=list)  # the track each sighting joined
    fired: list[Track] = field(default_factory=list)
    suppressed: list[Track] = field(default_factory=list)
    ended: list[Track] = field(default_factory=list)
    settled: list[Sighting] = field(default_factory=list)


class Tracker:
    def __init__(self, cfg: EventsConfig):
        self.cfg = cfg
        self.tracks: list[Track] = []
        self.marks: list[Mark] = []  # violations whose track ended, or restored after a restart
        self.clock = -math.inf       # newest capture time seen
        self.marks_changed = False   # the caller persists cooldown_marks() when set
        self._next_id = 1
        # a re-found violator within the track gap is the same person even with cooldown_s 0
        self._hold = max(cfg.cooldown_s, cfg.track_max_gap_s)

    def update(self, captured_at: float, sightings: list[Sighting]) -> Step:
        step = Step()
        self.clock = max(self.clock, captured_at)
        self._expire(step, self.clock)
        pairs, fresh = self._match(captured_at, sightings)
        for tr, s in pairs:
            self._add(tr, s, step)
        for s in fresh:
            tr = Track(self._next_id, s.captured_at, s.captured_at, s.box)
            self._next_id += 1
            self.tracks.append(tr)
            self._add(tr, s, step)
        return step

    def expire(self, now: float) -> Step:
        """End the tracks unseen since `now - track_max_gap_s` (capture time).

        `now` may be an estimate (a camera gone quiet): it does not move the clock, so a late
        sighting is still matched rather than ending up in a track that is born expired.
        """
        step = Step()
        self._expire(step, max(self.clock, now))
        return step

    def seed(self, marks: list[Mark]) -> None:
        """Restore violations from before a restart, so people still in view are not reported again."""
        self.marks += marks

    def cooldown_marks(self) -> list[Mark]:
        live = [tr.mark() for tr in self.tracks if tr.state is State.VIOLATION]
        return [m for m in self.marks if self.clock - m.t < self._hold] + live

    def _expire(self, step: Step, clock: float) -> None:
        keep = []
        for tr in self.tracks:
            if clock - tr.last_seen <= self.cfg.track_max_gap_s:
                keep.append(tr)
                continue
            step.ended.append(tr)
            step.settled += tr.window
            tr.window = []
            if tr.state is State.VIOLATION:
                self.marks.append(tr.mark())
                self.marks_changed = True
        self.tracks = keep
        self.marks = [m for m in self.marks if clock - m.t < self._hold]

    def _match(self, t: float, sightings: list[Sighting]
               ) -> tuple[list[tuple[Track, Sighting]], list[Sighting]]:
        """Greedy one-to-one assignment: IoU pairs first (best first), then the nearest centres."""
        horizon = self.cfg.track_max_gap_s
        cands = []
        for ti, tr in enumerate(self.tracks):
            pred = tr.predict(t, horizon)
            for si, s in enumerate(sightings):
                overlap = max(iou(pred, s.box), iou(tr.box, s.box))
                if overlap >= self.cfg.track_iou:
                    cands.append((0, -overlap, ti, si))
                    continue
                dist = min(spacing(pred, s.box), spacing(tr.box, s.box))
                if dist < 1.0:
                    cands.append((1, dist, ti, si))
        cands.sort()
        used_t, used_s, pairs = set(), set(), []
        for _, _, ti, si in cands:
            if ti not in used_t and si not in used_s:
                used_t.add(ti)
                used_s.add(si)
                pairs.append((self.tracks[ti], sightings[si]))
        return pairs, [s for si, s in enumerate(sightings) if si not in used_s]

    def _add(self, tr: Track, s: Sighting, step: Step) -> None:
        step.matched.append((tr, s))
        tr.count += 1
        tr.follow(s)
        if tr.state is not State.VOTING:
            step.settled.append(s)  # the track's outcome is decided: nothing to replay for it
            self.marks_changed |= tr.state is State.VIOLATION
            return
        bisect.insort(tr.window, s, key=lambda x: x.captured_at)
        if len(tr.window) > self.cfg.vote_n:
            step.settled.append(tr.window.pop(0))
        if sum(x.no_mask for x in tr.window) >= self.cfg.vote_k:
            self._fire(tr, s, step)

    def _fire(self, tr: Track, s: Sighting, step: Step) -> None:
        if self._cooled(tr, s):
            tr.state = State.SUPPRESSED
            step.suppressed.append(tr)
        else:
            tr.state = State.VIOLATION
            tr.fired = s
            tr.best = max(tr.window, key=lambda x: (x.frame is not None, x.p_no_mask))
            step.fired.append(tr)
            # the spot itself is cooled down too: the live mark follows the track, and a track can
            # be handed to someone else crossing it, taking the mark away from where this happened
            self.marks.append(Mark(s.captured_at, s.box))
            self.marks_changed = True
        step.settled += tr.window
        tr.window = []

    def _cooled(self, tr: Track, s: Sighting) -> bool:
        """Whether a violation near this spot was seen within the cooldown (either side in time)."""
        others = [o.mark() for o in self.tracks if o is not tr and o.state is State.VIOLATION]
        for m in self.marks + others:
            if abs(s.captured_at - m.t) >= self._hold:
                continue
            # where the person was last seen (someone coming back to the same spot) and where
            # their motion would have taken them (the same person walking on)
            for ref in (m.box, m.at(s.captured_at, self.cfg.track_max_gap_s)):
                if iou(ref, s.box) >= COOLDOWN_IOU or spacing(ref, s.box) < 1.0:
                    return True
        return False
