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
agreeing sightings (at judge_min_px, all of the window). A person never seen large enough, or
only ever as a face the detector doubts (below the rule's face score, which cannot say "no mask"),
is *not judged*: counted, never a violation, never compliant. A face that has not moved
(`still_tol` of its width) is held when it passes the vote, on the window it passed with, until it
moves (then it is reported) or leaves (reported too: nothing showed it was a picture); one still
for `still_s` is a picture (a poster, a screen, a painting), never a violation, and a face held at
a picture's place later is one at once.

A camera that moves (hand-held, PTZ, swaying) says so with each frame (ingest.camera_motion): the
caller hands `warp` the transform since the frame before, and every place remembered (tracks,
their velocities, recent violators, pictures) moves with the picture, so that motion and
plausibility are judged on the person's own walk.

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
import math
from dataclasses import dataclass, field

from maskwatch.events_config import EventsConfig
from maskwatch.geometry import Box, iou, moved_box
from maskwatch.workers.identity import Identity, Registry, center_spacing
from maskwatch.workers.track import Sighting, State, Track

__all__ = ["Sighting", "State", "Step", "Track", "Tracker"]

# at 2 fps a walking face moves 2-3 of its widths a frame, beyond any motion gate: a face that
# looks this much like the track (cosine), within REFIND_WIDTHS, still continues it
REFIND_SIM, REFIND_WIDTHS = 0.8, 4.0
# a face standing on a track's box by this much IoU is asked the looser events.overlap_gate
OVERLAP_IOU = 0.5
# a moving camera: identities unseen this long keep their places as they were (walkable from there in
# that time is anywhere in the picture), so the work per frame is bounded by the people seen lately
WARP_HORIZON_S = 30.0
PICTURE_IOU, MAX_PICTURES = 0.5, 32


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

    def warp(self, m) -> None:
        """The camera moved by `m` (2x3, from the pixels of the frame before the next update's to
        its own): every place remembered moves with the picture (camera-motion compensation)."""
        for tr in self.tracks:
            tr.warp(m)
        for ident in self.identities.identities:
            if self.clock - ident.last_seen <= WARP_HORIZON_S:
                ident.warp(m)
        self.pictures = [moved_box(m, b) for b in self.pictures]

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
                    if sim < self._gate(gate, overlap):
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

    def _gate(self, gate: float, overlap: float) -> float:
        """The least alike a face may be to continue a track: events.overlap_gate where it stands
        on the track's box (OVERLAP_IOU or more), else events.appearance_gate."""
        if self.cfg.overlap_gate is None or overlap < OVERLAP_IOU:
            return gate
        return min(gate, self.cfg.overlap_gate)

    def _add(self, tr: Track, s: Sighting, step: Step) -> None:
        step.matched.append((tr, s))
        tr.count += 1
        if s.score >= s.min_score and (tr.sure_since is None or s.captured_at < tr.sure_since):
            tr.sure_since = s.captured_at
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
        if self.weight(s) <= 0 or not self.admits(tr, s):
            step.settled.append(s)  # too small to tell (or not admitted): it keeps the track going, it cannot vote
            return
        if self.can_tell(tr, s):  # a face the detector doubts could never say "no mask": nobody judged it
            tr.judged += 1
        bisect.insort(tr.window, s, key=lambda x: x.captured_at)
        if len(tr.window) > self.cfg.vote_n:
            step.settled.append(tr.window.pop(0))
        if self.passes(tr, s):
            self._passed(tr, s, step)

    # The vote's two questions, methods so that a study can ask them otherwise on the same tracker
    # (models/studies/trackvote.py: the variants measured and not kept, docs/real-footage.md).
    def admits(self, tr: Track, s: Sighting) -> bool:
        """Whether a sighting large enough to vote takes a place in the window: every one does (a
        face the detector doubts too, as a place that does not say "no mask")."""
        return True

    def passes(self, tr: Track, s: Sighting) -> bool:
        """The vote, after `s` joined the window: the sightings that say "no mask" weigh vote_k."""
        return sum(self.weight(x) for x in tr.window if self.says_no_mask(tr, x)) >= self.cfg.vote_k - 1e-9

    def says_no_mask(self, tr: Track, s: Sighting) -> bool:
        """A sighting's vote: the rule's; and where the track showed a sure face (at the rule's
        minimum face score) before it, the rule at events.confirmed_min_score, for a face the
        detector doubts is then the face it was sure of a moment before (the café terrace's blurred
        faces score 0.5-0.88 against the rule's 0.80). Doubted faces before the first sure one do
        not count after the fact (measured: they add false alarms, docs/real-footage.md)."""
        if s.no_mask:
            return True
        return self._confirmed(tr, s) and s.no_mask_at(self.cfg.vote_bar(s.min_score))

    def can_tell(self, tr: Track, s: Sighting) -> bool:
        """Whether a sighting's face is sure enough to tell a mask from none: the rule's minimum face
        score, or events.confirmed_min_score where that applies (says_no_mask)."""
        return s.score >= (self.cfg.vote_bar(s.min_score) if self._confirmed(tr, s) else s.min_score)

    def _confirmed(self, tr: Track, s: Sighting) -> bool:
        """Whether the track showed a sure face before this sighting, with confirmed_min_score set."""
        return self.cfg.confirmed_min_score is not None and tr.sure_since is not None \
            and s.captured_at >= tr.sure_since

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
