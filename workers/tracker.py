"""Per-camera face tracker, k-of-n no-mask vote and dedup by identity: pure Python + numpy, no I/O.

Input is one camera's sightings in capture order (the events service restores that order; small
inversions are tolerated). Association follows ByteTrack / BoT-SORT:

1. confident faces (score >= track_high_score) are matched to every live track by motion (IoU
   against a constant-velocity prediction, with a centroid-distance fallback, because at 2-5 fps a
   walking face's boxes barely overlap) *and* appearance: a pair whose embeddings are less alike
   than `appearance_gate` is never matched, so two people crossing do not swap tracks, and among
   the allowed pairs the cheapest motion + appearance cost wins (greedy, best first);
2. doubtful faces (blurred, turned away, usually unclassified) then continue the tracks left over,
   by motion alone: a track is not lost because one frame scored low. They never start a track.

Only what can be judged votes: a face narrower than `judge_min_px` keeps its track going but
never votes, and one narrower than `judge_full_px` counts less, so that a small face needs more
agreeing sightings (at judge_min_px, all of the window). A person never seen large enough is *not
judged*: counted, never a violation. A face that has not moved (`still_tol` of its width) is held
when it passes the vote, on the window it passed with, until it moves (then it is reported) or
leaves (reported too: nothing showed it was a picture); one still for `still_s` is a picture (a
poster, a screen, a painting), never a violation, and a face held at a picture's place later is one
at once.

When a track passes the vote, the identity registry (workers.identity) decides whether this is a
violator seen before on this camera within `revisit_s`: then the track *rejoins* that violation
(its row's last_seen and sightings advance) instead of making a new one. A different person at the
same spot always gets their own violation. Ended tracks that were never violators register as
people, so a person who leaves and comes back within the window is counted once.

Every sighting handed in is returned exactly once in some `Step.settled`, when the service may ack
it: its track fired (the caller commits first) or rejoined or ended, or the sighting dropped out of
a still-voting track's window and can no longer take part in a vote, or it was too doubtful to
track. A replay of the unsettled sightings therefore rebuilds every open vote window and fires at
the same sighting.
"""
from __future__ import annotations

import bisect
import enum
import math
from dataclasses import dataclass, field

import numpy as np

from maskwatch.events_config import EventsConfig
from maskwatch.geometry import Box, iou
from maskwatch.rule import Rule
from maskwatch.workers.identity import TRAIL, Identity, Match, Registry, center, center_spacing, shift, unit

SMOOTHING = 0.5     # weight of the newest velocity sample: jitter averages out, turns still register
APPEARANCE_EMA = 0.9  # BoT-SORT's: a track's look changes slowly, one odd frame does not move it
WINDOW_EMBEDDINGS = 8  # recent embeddings a track averages into its prototype for identity matching
# at 2 fps a walking face moves 2-3 of its widths a frame, beyond any motion gate: a face that
# looks this much like the track (cosine), within REFIND_WIDTHS, still continues it
REFIND_SIM, REFIND_WIDTHS = 0.8, 4.0
PICTURE_IOU, MAX_PICTURES = 0.5, 32


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
        return self.required and bool(Rule(self.threshold, self.min_score).violates(self.p_no_mask, self.score))


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
    judged: int = 0        # sightings large enough to vote
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


@dataclass
class Step:
    """What one update changed. The caller commits `fired` and `rejoined` before it acks `settled`."""
    matched: list[tuple[Track, Sighting]] = field(default_factory=list)  # the track each sighting joined
    fired: list[Track] = field(default_factory=list)
    rejoined: list[Track] = field(default_factory=list)
    ended: list[Track] = field(default_factory=list)
    settled: list[Sighting] = field(default_factory=list)


class Tracker:
    def __init__(self, cfg: EventsConfig):
        self.cfg = cfg
        self.tracks: list[Track] = []
        self.clock = -math.inf  # newest capture time seen
        self.identities = Registry(cfg.revisit_s, cfg.identity_threshold, cfg.track_max_gap_s,
                                   cfg.on_course_threshold)
        self.pictures: list[Box] = []  # where faces were found to be pictures: a face there is one at once
        self._next_id = 1

    def update(self, captured_at: float, sightings: list[Sighting]) -> Step:
        step = Step()
        self.clock = max(self.clock, captured_at)
        self._expire(step, self.clock)
        high = [s for s in sightings if s.score >= self.cfg.track_high_score]
        low = [s for s in sightings if s.score < self.cfg.track_high_score]
        pairs, fresh, free = self._match(captured_at, self.tracks, high, appearance=True)
        more, doubtful, _ = self._match(captured_at, free, low, appearance=False)
        for tr, s in pairs + more:
            self._add(tr, s, step)
        for s in fresh:
            tr = Track(self._next_id, s.captured_at, s.captured_at, s.box)
            self._next_id += 1
            self.tracks.append(tr)
            self._add(tr, s, step)
        step.settled += doubtful  # too unsure to start a track: nothing to vote on
        return step

    def expire(self, now: float) -> Step:
        """End the tracks unseen since `now - track_max_gap_s` (capture time).

        `now` may be an estimate (a camera gone quiet): it does not move the clock, so a late
        sighting is still matched rather than ending up in a track that is born expired.
        """
        step = Step()
        self._expire(step, max(self.clock, now))
        return step

    def seed(self, violators: list[Identity]) -> None:
        """Restore violators from before a restart, so people still in view are not reported again."""
        for ident in violators:
            self.identities.add(ident)

    def _expire(self, step: Step, clock: float) -> None:
        keep = []
        for tr in self.tracks:
            if clock - tr.last_seen <= self.cfg.track_max_gap_s:
                keep.append(tr)
                continue
            if tr.held and tr.state is State.VOTING and not self._at_picture(tr):
                # it passed the vote and left (turned, covered) before it could move: nothing says
                # it was a picture, so it is the person it looked like
                tr.held = False
                self._fire(tr, tr.window[-1], step)
            step.ended.append(tr)
            step.settled += tr.window
            tr.window = []
            self._end(tr)
        self.tracks = keep
        self.identities.expire(clock)

    def _end(self, tr: Track) -> None:
        """Who an ended track was: a violator (known), someone seen before, or a new person."""
        if tr.identity is not None:
            tr.new_person = tr.state is State.VIOLATION
            return
        if tr.picture:
            return  # not a person: nobody to count or to recognise
        proto = tr.prototype
        found = self.identities.match(proto, tr.trail, violators_only=False)
        known = found.identity if found else None
        if known is not None:
            known.observe(tr.last_seen, tr.box, proto, tr.sightings_after(known.last_seen))
            tr.identity = known
            return
        tr.new_person = tr.count >= 2  # one sighting: a flicker of the detector, not a person
        if proto is not None and tr.new_person:
            tr.identity = self.identities.add(Identity(tr.first_seen, tr.last_seen, tr.box, [proto],
                                                       sightings=tr.count, trail=list(tr.trail)))

    def _match(self, t: float, tracks: list[Track], sightings: list[Sighting], appearance: bool
               ) -> tuple[list[tuple[Track, Sighting]], list[Sighting], list[Track]]:
        """Greedy one-to-one assignment by cost: (pairs, unmatched sightings, unmatched tracks)."""
        horizon, gate = self.cfg.track_max_gap_s, self.cfg.appearance_gate
        cands = []
        for ti, tr in enumerate(tracks):
            pred = tr.predict(t, horizon)
            for si, s in enumerate(sightings):
                overlap = max(iou(pred, s.box), iou(tr.box, s.box))
                dist = min(center_spacing(pred, s.box), center_spacing(tr.box, s.box))
                sim = None
                if (appearance and tr.appearance is not None and s.embedding is not None
                        and tr.appearance.shape == s.embedding.shape):
                    sim = float(tr.appearance @ s.embedding)
                    if sim < gate:
                        continue  # a different face, however close
                if overlap >= self.cfg.track_iou:
                    motion = 1.0 - overlap
                elif dist < 1.0:
                    motion = 1.0 + dist
                elif sim is not None and sim >= REFIND_SIM and dist < REFIND_WIDTHS:
                    motion = 2.0 + dist / REFIND_WIDTHS  # only when nothing closer claims either
                else:
                    continue
                look = 0.5 if sim is None else 1.0 - sim  # unknown on one side: neither for nor against
                cands.append((motion + look, ti, si))
        cands.sort(key=lambda c: c[0])
        used_t, used_s, pairs = set(), set(), []
        for _, ti, si in cands:
            if ti not in used_t and si not in used_s:
                used_t.add(ti)
                used_s.add(si)
                pairs.append((tracks[ti], sightings[si]))
        return (pairs, [s for si, s in enumerate(sightings) if si not in used_s],
                [tr for ti, tr in enumerate(tracks) if ti not in used_t])

    def _add(self, tr: Track, s: Sighting, step: Step) -> None:
        step.matched.append((tr, s))
        tr.count += 1
        tr.under_policy |= s.required
        tr.follow(s)
        if tr.state is not State.VOTING:
            step.settled.append(s)  # the track's outcome is decided: nothing to replay for it
            if tr.identity is not None:
                tr.identity.observe(s.captured_at, s.box, s.embedding)
            return
        if tr.held:
            step.settled.append(s)  # the vote passed already, on the window kept: this one only shows motion
            self._held(tr, step)
            return
        if self.weight(s) <= 0:
            step.settled.append(s)  # too small to tell: it keeps the track going, it cannot vote
            return
        tr.judged += 1
        bisect.insort(tr.window, s, key=lambda x: x.captured_at)
        if len(tr.window) > self.cfg.vote_n:
            step.settled.append(tr.window.pop(0))
        if sum(self.weight(x) for x in tr.window if x.no_mask) >= self.cfg.vote_k - 1e-9:
            self._passed(tr, s, step)

    def weight(self, s: Sighting) -> float:
        """A sighting's say in the vote: none below judge_min_px; vote_k / vote_n at it, so that a
        face that small fires only when every sighting of the window agrees; rising with its width
        to a whole vote at judge_full_px."""
        w, lo, hi = s.box[2] - s.box[0], self.cfg.judge_min_px, self.cfg.judge_full_px
        if w < lo:
            return 0.0
        if w >= hi:
            return 1.0
        floor = self.cfg.vote_k / self.cfg.vote_n
        return floor + (1.0 - floor) * (w - lo) / (hi - lo)

    def _passed(self, tr: Track, s: Sighting, step: Step) -> None:
        """The vote passed: a violation, unless the face has not moved yet: then it is held, its
        window kept as it is (unsettled, so a replay holds it again), until it moves (a violation
        after all, on that window, named by the sighting that passed the vote) or has been still
        for still_s (a picture)."""
        if self.cfg.still_s > 0 and tr.reach < self.cfg.still_tol:
            tr.held = True
            self._held(tr, step)
            return
        self._fire(tr, s, step)

    def _at_picture(self, tr: Track) -> bool:
        return any(iou(tr.box, place) >= PICTURE_IOU for place in self.pictures)

    def _held(self, tr: Track, step: Step) -> None:
        if tr.reach >= self.cfg.still_tol:
            tr.held = False
            self._fire(tr, tr.window[-1], step)
        elif tr.last_seen - tr.first_seen >= self.cfg.still_s or self._at_picture(tr):
            tr.state = State.STILL
            if not self._at_picture(tr):  # where a picture is, the next face is one at once
                self.pictures = (self.pictures + [tr.box])[-MAX_PICTURES:]
            step.settled += tr.window
            tr.window = []

    def _fire(self, tr: Track, s: Sighting, step: Step) -> None:
        # a replay firing at the sighting that named a violation is that violation again (its
        # insert is idempotent), never a rejoin: its row may not have been committed
        same = self.identities.by_violation((s.entry_id, s.face))
        found = None if same else self.identities.match(tr.prototype, tr.trail, violators_only=True)
        if found is not None:
            known = found.identity
            tr.state, tr.identity, tr.rejoin = State.REJOINED, known, found
            known.observe(tr.last_seen, tr.box, tr.prototype, tr.sightings_after(known.last_seen))
            step.rejoined.append(tr)
        else:
            tr.state = State.VIOLATION
            tr.fired = s
            # evidence: a sighting with its crop and frame (workers send them only now and then)
            tr.best = max(tr.window, key=lambda x: (bool(x.crop), x.frame is not None, x.p_no_mask))
            exemplars = [tr.prototype] if tr.prototype is not None else []
            tr.identity = same or self.identities.add(Identity(tr.first_seen, tr.last_seen, tr.box, exemplars,
                                                               (s.entry_id, s.face), tr.count, trail=list(tr.trail)))
            step.fired.append(tr)
        step.settled += tr.window
        tr.window = []
