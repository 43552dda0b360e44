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


def _pooled(old_f1, new_f1):
    return {"images": 300, "old_f1": old_f1, "new_f1": new_f1, "gain": round(new_f1 - old_f1, 3),
            "interval": [-0.05, 0.05]}


def _gains(**intervals):
    return {name: {"all": {"interval": list(iv)}} for name, iv in intervals.items()}


@pytest.mark.parametrize("old, new, pooled, gains, worse", [
    # several held-out sets: all their images together decide, and no set may lose beyond its noise
    (_model(0.80), _model(0.78), _pooled(0.80, 0.82), _gains(scenes=(-0.06, 0.02), extra=(0.01, 0.09)), []),
    (_model(0.80), _model(0.85), _pooled(0.82, 0.81), _gains(scenes=(-0.01, 0.1), extra=(-0.07, 0.03)),
     ["held-out scenes, every set's images together: violation F1 0.81 < 0.82"]),
    (_model(0.80), _model(0.70), _pooled(0.80, 0.82), _gains(scenes=(-0.15, -0.02), extra=(0.05, 0.2)),
     ["held-out scenes: violation F1 lower beyond its images' noise (-0.150 to -0.020)"]),
    (_model(0.8, 0.6), _model(0.8, 0.5), _pooled(0.8, 0.9), _gains(scenes=(0.0, 0.1)),
     ["reviewed faces: violation F1 0.5 < 0.6"]),  # the reviews and clips as before
])
def test_with_several_held_out_sets_the_pooled_f1_decides_and_no_set_may_lose_beyond_noise(old, new, pooled, gains,
                                                                                         worse):
    assert worse_on(old, new, pooled, gains) == worse


def test_the_table_shows_the_second_set_apart_and_the_sets_together():
    old, new = _with_more(0.85), _with_more(0.80)
    text = table({"old": old, "new": new, "worse_on": [], "promotable": True, "pooled": _pooled(0.82, 0.83),
                  "more_scenes_gain": {"scenes-extra": {"all": {"violation_f1": -0.05, "interval": [-0.1, 0.01]}}}})
    assert ("| held-out scenes-extra, all faces (40 violations): violation precision / recall / F1 / AP | "
            "0.900 / 0.800 / 0.850 / 0.910 | 0.900 / 0.800 / 0.800 / 0.910 |") in text
    assert ("| held-out scenes-extra, all faces: violation F1 new - old, 95% interval | | "
            "-0.050 (-0.100 to +0.010) |") in text
    assert ("| held-out scenes, every set's 300 images together: violation F1 (new - old, 95% interval) | 0.820 | "
            "0.830 (+0.010: -0.050 to +0.050) |") in text


def test_the_pooled_f1_counts_every_sets_images_once():
    import numpy as np

    from maskwatch.models.evaluation.compare import pooled_gain

    # (true, false, missed) per image; set one: OLD 2 caught of 3, set two: NEW catches one more
    counts = {None: {"old": {"all": np.array([[1, 0, 1], [1, 0, 0]])},
                     "new": {"all": np.array([[1, 0, 1], [1, 1, 0]])}},
              "extra": {"old": {"all": np.array([[0, 0, 2]])}, "new": {"all": np.array([[1, 0, 1]])}}}
    got = pooled_gain(counts)
    assert got["images"] == 3
    assert got["old_f1"] == round(2 * 2 / (2 * 2 + 0 + 3), 3) and got["new_f1"] == round(2 * 3 / (2 * 3 + 1 + 2), 3)
    assert got["gain"] == round(got["new_f1"] - got["old_f1"], 3) and got["interval"][0] <= got["interval"][1]


def _footage(found, duplicates=0, false=0):
    r = _model()
    r["videos"] = {"violators": 47, "found": found, "false": false, "duplicates": duplicates,
                   "recall": round(found / 47, 3), "precision": 1.0}
    return r


@pytest.mark.parametrize("old, new, worse", [
    (_footage(38), _footage(38), []),
    (_footage(38, 11, 1), _footage(33, 12, 0), ["real footage: unmasked people found 33 < 38",
                                                 "real footage: duplicate violations 12 > 11"]),
    (_footage(38, 11, 0), _footage(38, 11, 1), ["real footage: false alarms 1 > 0"]),
    (_footage(38), _model(), []),  # played with one model only
])
def test_real_footage_counts_against_promotion(old, new, worse):
    assert worse_on(old, new) == worse
