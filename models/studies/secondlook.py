"""A second look before a second row: a track that passes the vote while it looks somewhat like a
violator seen lately waits, up to `wait_s`, for its own faces to say who it is. Measured on the
footage's replay (`replaytracks --select second-look`, docs/real-footage.md) and not kept; nothing
in the product imports this.

Why it was tried: the duplicates left are tracks that begin 0.4-4 s after their person's
violation, 1-3 face widths from it, 0.64-0.82 alike (the registry asks 0.84), judged on the few
sightings they have when they pass the vote. `SecondLook` holds such a track (a violator within
`recent_s`, plausible in place and time, at least `bar` alike) instead of firing it; each later
sighting asks the registry again with the track's prototype as it grows. It rejoins when the
registry says so, and fires on the sighting that passed the vote when `wait_s` has gone by or the
track ends: a held track is never lost.
"""
from __future__ import annotations

from maskwatch.events_config import EventsConfig
from maskwatch.workers.identity import Registry
from maskwatch.workers.tracker import Sighting, State, Step, Track, Tracker


class SecondLook(Tracker):
    def __init__(self, cfg: EventsConfig, bar: float, wait_s: float, recent_s: float):
        super().__init__(cfg)
        self.wait_s, self.recent_s = wait_s, recent_s
        # the registry's identities, asked at the lower bar (on course or not)
        self.near = Registry(cfg.revisit_s, bar, cfg.track_max_gap_s, bar)
        self.waiting: dict[int, tuple[Sighting, float]] = {}  # track id -> (the sighting that passed, until)

    def _fire(self, tr: Track, s: Sighting, step: Step) -> None:
        if tr.id not in self.waiting and self._looks_like_a_recent_violator(tr, s):
            self.waiting[tr.id] = (s, s.captured_at + self.wait_s)
            return  # its window stays unsettled, as a held face's: a replay waits again
        super()._fire(tr, s, step)

    def _looks_like_a_recent_violator(self, tr: Track, s: Sighting) -> bool:
        if self.identities.by_violation((s.entry_id, s.face)):
            return False  # a replay of a violation: that violation again
        if self.identities.match(tr.prototype, tr.trail, violators_only=True) is not None:
            return False  # the registry is sure already: it rejoins
        self.near.identities = self.identities.identities
        m = self.near.match(tr.prototype, tr.trail, violators_only=True)
        return m is not None and tr.first_seen - m.identity.last_seen <= self.recent_s

    def _add(self, tr: Track, s: Sighting, step: Step) -> None:
        if tr.id not in self.waiting or tr.state is not State.VOTING:
            super()._add(tr, s, step)
            return
        step.matched.append((tr, s))
        tr.count += 1
        tr.follow(s)  # its prototype grows with the face
        step.settled.append(s)  # the vote passed on the window kept: this one only says who it is
        passed, until = self.waiting[tr.id]
        if s.captured_at >= until or self.identities.match(tr.prototype, tr.trail, violators_only=True):
            del self.waiting[tr.id]
            super()._fire(tr, passed, step)

    def _expire(self, step: Step, clock: float) -> None:
        for tr in self.tracks:
            if tr.id in self.waiting and clock - tr.last_seen > self.cfg.track_max_gap_s:
                passed, _ = self.waiting.pop(tr.id)
                super()._fire(tr, passed, step)  # it ends waiting: who it is, decided on all it showed
        super()._expire(step, clock)
