"""The vote asked otherwise (maskwatch.models.studies.trackvote), on one face walking: which
sighting passes the vote, against the shipped vote on the same sightings. Each run also checks
that every sighting is settled exactly once (support.tracking.Run.finish)."""
from __future__ import annotations

import pytest
from support.tracking import Run, events_cfg

from maskwatch.models.studies.trackvote import TellOnly, WholeTrack, tracker

T0 = 1000.0
BARE, MASK, DOUBTED_BARE = (0.95, 0.9), (0.05, 0.9), (0.95, 0.6)  # (p no mask, face score); the rule asks 0.8


def fires_at(vote, faces: list[tuple[float, float]]):
    run = Run(min_score=0.8)
    run.tracker = tracker(events_cfg(), vote)
    steps = [run.frame(T0 + i / 5, [("a", (50 + 4 * i, 100, 80 + 4 * i, 136), p, None, sc)])
             for i, (p, sc) in enumerate(faces)]
    run.finish()
    return [steps.index(step) for _, step in run.fired]


@pytest.mark.parametrize("name, faces, shipped, vote, fires", [
    ("one bare face: the whole track at weight 1", [BARE] + [MASK] * 2, [], ("track", 1.0, 0.5), [0]),
    ("one bare of three sure: share 0.33", [MASK] * 2 + [BARE], [], ("track", 1.0, 0.3), [2]),
    ("... not at a share it does not reach", [MASK] * 2 + [BARE], [], ("track", 1.0, 0.5), []),
    ("two bare of six sure: share 0.33", [BARE] + [MASK] * 4 + [BARE], [], ("track", 2.0, 0.3), [5]),
    ("two bare of six sure, share 0.5: never", [BARE] + [MASK] * 4 + [BARE], [], ("track", 2.0, 0.5), []),
    ("doubted faces are not sure: 1 of 1", [DOUBTED_BARE] * 3 + [BARE], [], ("track", 1.0, 0.5), [3]),
    ("the window's vote still passes", [BARE] * 3, [2], ("track", 9.0, 1.0), [2]),
    ("doubted faces between three sure ones", [BARE] + [DOUBTED_BARE] * 2 + [BARE] + [DOUBTED_BARE] * 2 + [BARE],
     [], ("tell",), [6]),
    ("only sure faces: the shipped vote's count", [BARE] * 3, [2], ("tell",), [2]),
])
def test_the_vote_asked_otherwise(name, faces, shipped, vote, fires):
    assert fires_at(None, faces) == shipped, name
    assert fires_at(vote, faces) == fires, name


@pytest.mark.parametrize("vote, kind", [(None, "Tracker"), (("tell",), TellOnly.__name__),
                                        (("track", 1.0, 0.5), WholeTrack.__name__),
                                        (("second-look", 0.5, 2.0, 5.0), "SecondLook")])
def test_the_variant_names_its_tracker(vote, kind):
    assert type(tracker(events_cfg(), vote)).__name__ == kind


def test_an_unknown_variant_is_named():
    with pytest.raises(ValueError, match="'window'"):
        tracker(events_cfg(), ("window",))


def test_the_whole_track_sums_end_with_their_tracks():
    run = Run(min_score=0.8)
    run.tracker = tracker(events_cfg(), ("track", 9.0, 1.0))
    for i in range(4):
        run.frame(T0 + i / 5, [("a", (50 + 4 * i, 100, 80 + 4 * i, 136), BARE[0], None, BARE[1])])
    assert run.tracker._sums
    run.finish()
    assert run.tracker._sums == {}
