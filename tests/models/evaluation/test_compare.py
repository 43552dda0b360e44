"""Promotion's rule (maskwatch.models.evaluation.compare.worse_on): NEW may lose on nothing both models
were measured on."""
from __future__ import annotations

import pytest

from maskwatch.models.evaluation.compare import table, worse_on


def _model(f1=0.8, reviews=None, clips=None):
    r = {"version": "v", "classes": ["mask", "no_mask", "mask_incorrect"],
         "scenes": {k: {"violation_precision": f1, "violation_recall": f1, "violation_f1": f1, "violations_gt": 10}
                    for k in ("all", ">=24px")}}
    if reviews is not None:
        r["reviews"] = {"faces": 9, "violation_precision": reviews, "violation_recall": reviews,
                        "violation_f1": reviews}
    if clips is not None:
        recall, precision, duplicates = clips
        r["clips"] = {"violators": 4, "found": round(4 * recall), "false": 0, "duplicates": duplicates,
                      "recall": recall, "precision": precision}
    return r


@pytest.mark.parametrize("old, new, worse", [
    (_model(), _model(), []),
    (_model(0.8), _model(0.9), []),
    (_model(0.8), _model(0.7), ["held-out scenes: violation F1 0.7 < 0.8"]),
    (_model(reviews=0.6), _model(reviews=0.5), ["reviewed faces: violation F1 0.5 < 0.6"]),
    (_model(reviews=0.6), _model(), []),  # measured on one side only: nothing to compare
    (_model(clips=(1.0, 1.0, 0)), _model(clips=(1.0, 1.0, 1)), ["person clips: duplicate violations 1 > 0"]),
    (_model(clips=(1.0, 1.0, 2)), _model(clips=(1.0, 1.0, 1)), []),
    (_model(clips=(1.0, 1.0, 0)), _model(clips=(0.75, 1.0, 0)), ["person clips: violators found 0.75 < 1.0"]),
    (_model(clips=(1.0, 1.0, 0)), _model(clips=(1.0, 0.8, 0)), ["person clips: precision 0.8 < 1.0"]),
    (_model(0.8, 0.6, (1.0, 1.0, 0)), _model(0.9, 0.5, (1.0, 1.0, 1)),
     ["reviewed faces: violation F1 0.5 < 0.6", "person clips: duplicate violations 1 > 0"]),
])
def test_new_is_worse_where_it_loses_on_anything_both_were_measured_on(old, new, worse):
    assert worse_on(old, new) == worse


def test_the_table_shows_the_clips_and_why_a_model_is_refused():
    old, new = _model(clips=(1.0, 1.0, 0)), _model(clips=(1.0, 1.0, 1))
    text = table({"old": old, "new": new, "worse_on": worse_on(old, new), "promotable": False})
    assert "| person clips: duplicates | 0 | 1 |" in text
    assert text.endswith("not promotable: NEW is worse on person clips: duplicate violations 1 > 0")


@pytest.mark.parametrize("interval, says", [
    ([0.01, 0.09], "+0.050 (+0.010 to +0.090: beyond these images' noise)"),
    ([-0.02, 0.12], "+0.050 (-0.020 to +0.120: within these images' noise)"),
])
def test_the_table_says_whether_the_held_out_gain_is_beyond_the_images_noise(interval, says):
    old, new = _model(0.80), _model(0.85)
    gain = {"violation_f1": 0.05, "interval": interval, "beyond_noise": not interval[0] <= 0 <= interval[1]}
    text = table({"old": old, "new": new, "scenes_gain": {"all": gain}, "worse_on": [], "promotable": True})
    assert f"| held-out scenes, all faces: violation F1 new - old, 95% interval over images | | {says} |" in text


def _with_more(f1_all: float) -> dict:
    r = _model()
    bucket = {"violation_precision": 0.9, "violation_recall": 0.8, "violation_f1": f1_all, "violation_ap": 0.91,
              "violations_gt": 40}
    r["more_scenes"] = {"scenes-extra": {k: dict(bucket) for k in ("all", ">=24px")}}
    return r


@pytest.mark.parametrize("old, new, worse", [
    (_with_more(0.80), _with_more(0.85), []),
    (_with_more(0.85), _with_more(0.80), ["held-out scenes-extra: violation F1 0.8 < 0.85"]),
    (_with_more(0.85), _model(), []),  # the second set measured on one side only
])
def test_a_second_held_out_set_counts_against_promotion(old, new, worse):
    assert worse_on(old, new) == worse


def test_the_table_shows_the_second_set_apart():
    old, new = _with_more(0.85), _with_more(0.80)
    text = table({"old": old, "new": new, "worse_on": worse_on(old, new), "promotable": False,
                  "more_scenes_gain": {"scenes-extra": {"all": {"violation_f1": -0.05, "interval": [-0.1, 0.01]}}}})
    assert ("| held-out scenes-extra, all faces (40 violations): violation precision / recall / F1 / AP | "
            "0.900 / 0.800 / 0.850 / 0.910 | 0.900 / 0.800 / 0.800 / 0.910 |") in text
    assert ("| held-out scenes-extra, all faces: violation F1 new - old, 95% interval | | "
            "-0.050 (-0.100 to +0.010) |") in text
