"""A second look before a second row (maskwatch.models.studies.secondlook): a violator walks
away, and a new track begins a face's width further on a moment later, looking somewhat like them.
Against the shipped tracker on the same sightings; each run also checks that every sighting is
settled exactly once (support.tracking.Run.finish)."""
from __future__ import annotations

import pytest
from support.tracking import People, Run, box, events_cfg, pause

from maskwatch.models.studies.trackvote import tracker

T0, BARE = 1000.0, 0.95


def rows(second_look: tuple | None, first: float, later: float, seen: int) -> list[str]:
    """The violations fired (the entry of the sighting each fired on): A bare for 2 s, gone; 1.4 s
    later a track `seen` sightings long whose first three faces look `first` alike A's and the
    rest `later` alike (as alike as the first: the same look throughout)."""
    people = People(seed=3, noise=0.05)
    people.drift("a", "a first", first)
    people.drift("a", "a later", later)
    run = Run(min_score=0.0)
    run.tracker = tracker(events_cfg(), second_look)
    for i in range(10):
        run.frame(T0 + i / 5, [("a", box(100 + 2 * i, 100), BARE, people("a"))])
    pause(run, T0 + 2.0 + 1.1)  # A's track ends
    for i in range(seen):
        look = "a first" if i < 3 or later == first else "a later"
        run.frame(T0 + 3.2 + i / 5, [(look, box(140 + 2 * i, 100), BARE, people(look))])
    run.finish()
    return [tr.fired.entry_id for tr, _ in run.fired]


LOOK = ("second-look", 0.5, 2.0, 5.0)


@pytest.mark.parametrize("name, first, later, seen, shipped, second", [
    ("its later faces are A's: it rejoins A", 0.7, 0.98, 10, 2, 1),
    ("its faces stay unlike A's: a second row after the wait", 0.7, 0.7, 20, 2, 2),
    ("it ends while it waits: a second row all the same", 0.7, 0.98, 4, 2, 2),
    ("it looks like nobody seen lately: a row at once", 0.2, 0.2, 10, 2, 2),
])
def test_a_track_like_a_recent_violator_waits_to_be_told(name, first, later, seen, shipped, second):
    assert len(rows(None, first, later, seen)) == shipped, name
    assert len(rows(LOOK, first, later, seen)) == second, name


@pytest.mark.parametrize("first, later, seen", [(0.7, 0.7, 20), (0.7, 0.98, 4), (0.2, 0.2, 10)])
def test_a_second_row_fires_on_the_sighting_that_passed_the_vote(first, later, seen):
    assert rows(LOOK, first, later, seen) == rows(None, first, later, seen)
