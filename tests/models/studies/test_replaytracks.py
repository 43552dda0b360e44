"""The gates' selection out of fold (maskwatch.models.studies.replaytracks --select): each video is
judged by the setting chosen on the others, ties go to the smallest change; pure, on hand-made rows."""
from __future__ import annotations

import pytest

from maskwatch.models.studies.replaytracks import BEFORE, BEFORE_IDENTITY, IDENTITY_GRID, change, leave_one_out

GRID = {"before": ({"appearance_gate": 0.5, "overlap_gate": None, "on_course_threshold": 0.7}, "face", True),
        "loose": ({"appearance_gate": 0.4, "overlap_gate": None, "on_course_threshold": 0.7}, "face", True),
        "looser": ({"appearance_gate": 0.4, "overlap_gate": 0.3, "on_course_threshold": 0.7}, "face", True)}


def row(found: int, duplicates: int) -> dict:
    return {"violators": 4, "found": found, "duplicates": duplicates, "false": 0}


@pytest.mark.parametrize("name, moved, grid", [
    (BEFORE, (0, 0.0), {}),
    ("gate0.4", (1, 0.2), {}),                     # the gate, and the overlap gate that is the gate itself
    ("gate0.4 overlap0.3", (2, 0.3), {}),
    ("gate0.5 overlap0.3 oncourse0.6", (2, 0.3), {}),
    # who a violator is: the descriptor counts as a setting moved
    ("face 0.84", (1, 0.04), dict(grid=IDENTITY_GRID, before=BEFORE_IDENTITY)),
    ("face+clothing 0.88", (1, 0.0), dict(grid=IDENTITY_GRID, before=BEFORE_IDENTITY)),
    ("face+clothing 0.8", (2, 0.08), dict(grid=IDENTITY_GRID, before=BEFORE_IDENTITY)),
])
def test_a_setting_s_change_from_the_one_before(name, moved, grid):
    assert change(name, **grid) == moved


@pytest.mark.parametrize("results, chosen, on_all", [
    # loose and looser each take a duplicate off a and b; looser loses a person on c
    ({"before": [row(4, 2), row(4, 2), row(4, 0)], "loose": [row(4, 1), row(4, 1), row(4, 0)],
      "looser": [row(4, 1), row(4, 1), row(3, 0)]}, ["loose", "loose", "loose"], "loose"),
    # c alone shows a gain: a and b cannot choose it for each other, nor for c (the smallest change)
    ({"before": [row(4, 0), row(4, 0), row(4, 3)], "loose": [row(4, 0), row(4, 0), row(4, 1)],
      "looser": [row(4, 0), row(4, 0), row(4, 1)]}, ["loose", "loose", "before"], "loose"),
    # nothing helps anywhere: the setting before stays
    ({"before": [row(4, 1)] * 3, "loose": [row(4, 1)] * 3, "looser": [row(4, 1)] * 3},
     ["before", "before", "before"], "before"),
])
def test_each_video_is_judged_by_the_setting_chosen_without_it(results, chosen, on_all):
    result = {name: dict(zip("abc", rows)) for name, rows in results.items()}
    got = leave_one_out(result, before="before", grid=GRID)
    assert [got["chosen"][v] for v in "abc"] == chosen and got["on_all"] == on_all
    assert got["held_out"] == {v: result[c][v] for v, c in zip("abc", chosen)}
    assert got["before_total"]["duplicates"] == sum(r["duplicates"] for r in results["before"])
