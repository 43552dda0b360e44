"""The vote asked otherwise, on the same tracker: the variants measured on the footage's replay and
not kept (docs/real-footage.md, "The people the replay misses, one by one"). `replaytracks --select
vote` replays them beside the shipped vote; nothing in the product imports this.

- `TellOnly`: a face the detector doubts keeps its track going but takes no place in the window of
  vote_n, so that the window holds only faces that can tell.
- `WholeTrack(k, share)`: beside the window's vote, a violation also when the track's sightings
  that say "no mask" weigh at least `k` and at least `share` of the weight of those that can tell:
  a person seen sure only once or twice, or far apart, can still pass.
"""
from __future__ import annotations

from maskwatch.events_config import EventsConfig
from maskwatch.workers.tracker import Sighting, Track, Tracker

EPS = 1e-9  # the tracker's own tolerance on summed weights


class TellOnly(Tracker):
    def admits(self, tr: Track, s: Sighting) -> bool:
        return self.can_tell(tr, s)


class WholeTrack(Tracker):
    def __init__(self, cfg: EventsConfig, k: float, share: float):
        super().__init__(cfg)
        self.k, self.share = k, share
        self._sums: dict[int, tuple[float, float]] = {}  # track id -> (weight saying no mask, weight that can tell)

    def passes(self, tr: Track, s: Sighting) -> bool:
        bare, told = self._sums.get(tr.id, (0.0, 0.0))
        w = self.weight(s)
        told += w if self.can_tell(tr, s) else 0.0
        bare += w if self.says_no_mask(tr, s) else 0.0
        self._sums[tr.id] = (bare, told)
        return super().passes(tr, s) or (bare >= self.k - EPS and bare >= self.share * told - EPS)

    def _end(self, tr: Track) -> None:
        self._sums.pop(tr.id, None)  # bounded by the tracks alive
        super()._end(tr)


def tracker(cfg: EventsConfig, vote: tuple | None = None) -> Tracker:
    """The tracker a replay variant names: None (the shipped vote), ("tell",), ("track", k, share)
    or ("second-look", bar, wait_s, recent_s) (studies.secondlook: not the vote, who fires)."""
    if vote is None:
        return Tracker(cfg)
    if vote[0] == "tell":
        return TellOnly(cfg)
    if vote[0] == "track":
        return WholeTrack(cfg, *vote[1:])
    if vote[0] == "second-look":
        from maskwatch.models.studies.secondlook import SecondLook

        return SecondLook(cfg, *vote[1:])
    raise ValueError(f"vote variant {vote!r}: expected None, ('tell',), ('track', k, share) or "
                     "('second-look', bar, wait_s, recent_s)")
