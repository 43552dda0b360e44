"""The rule study: rule families chosen on some folds' out-of-fold detections and scored on the
others', agreeing with training's own choice where they are the same family."""
from __future__ import annotations

import numpy as np
import pytest

from maskwatch.models.evaluation.metrics import Tally
from maskwatch.models.studies import rulestudy
from maskwatch.models.training.crossval import RULE_BUCKETS, CrossVal

FOLDS = 3


def _fold_tally(rng, lo: float, k: int, sizes=(12, 40), times: int = 1) -> Tally:
    """One fold's scenes, drawn so that small faces need another rule than large ones: small
    violators are read at p ~ 0.6 with doubtful face scores, large masked faces at p ~ 0.7
    (`sizes`: the faces drawn, `times` as many of each)."""
    t = Tally(lo)
    kinds = {  # width, p, face score, on a violation, on a mask, how many
        "small violator": (12, (0.5, 0.75), (0.45, 0.7), True, False, 12),
        "small mask": (12, (0.05, 0.35), (0.45, 0.7), False, True, 30),
        "small nothing": (12, (0.55, 0.9), (0.3, 0.42), False, False, 10),
        "large violator": (40, (0.85, 0.99), (0.85, 0.95), True, False, 12),
        "large mask": (40, (0.55, 0.8), (0.85, 0.95), False, True, 30),
    }
    for width, (p_lo, p_hi), (s_lo, s_hi), violation, mask, n in kinds.values():
        if width < lo or width not in sizes:
            continue
        n *= times
        t.conf += rng.uniform(s_lo, s_hi, n).tolist()
        t.p_no_mask += rng.uniform(p_lo, p_hi, n).tolist()
        t.on_violation += [violation] * n
        t.on_mask += [mask] * n
        t.width += [float(width)] * n
        t.fold += [-1] * n
        t.violations_gt += n * violation
        t.masks_gt += n * mask
    t.violations_gt += k == 0 and 12 in sizes  # fold 0's detector also misses one small violator altogether
    return t


@pytest.fixture
def cv(tmp_path) -> CrossVal:
    """Three folds pooled as cross-validation pools them, saved and read back as training keeps them."""
    rng = np.random.default_rng(7)
    cv = CrossVal(FOLDS, labels=[np.zeros(1, int)], probs=[np.full((1, 3), 1 / 3)], upscale=(1.0, 2.0))
    for k in range(FOLDS):
        for name, (lo, _) in RULE_BUCKETS.items():
            cv.tallies[name].extend(_fold_tally(rng, lo, k), fold=k)
    cv.save(tmp_path / "oof.npz")
    return CrossVal.load(tmp_path / "oof.npz", FOLDS)


def test_pooling_marks_each_detection_with_its_fold_and_each_fold_with_its_violators(cv):
    t = cv.tallies["all"]
    assert sorted(set(t.fold)) == [0, 1, 2] and t.fold.count(0) == len(t.fold) // FOLDS
    assert t.fold_violations == {0: 25, 1: 24, 2: 24} and sum(t.fold_violations.values()) == t.violations_gt
    assert set(t.width) == {12.0, 40.0} and cv.has_folds()


def test_the_global_family_is_trainings_rule(cv):
    result = rulestudy.study(cv)["global"]
    threshold, min_score = cv.rule()
    assert result["rule"] == [[round(threshold, 4), round(min_score, 4)]] * 3
    for got, name in zip(result["in_sample"], RULE_BUCKETS, strict=True):
        assert got["f1"] == round(cv.tallies[name].f1(threshold, min_score)[2], 3)


def test_a_rule_per_size_wins_where_sizes_want_other_cuts_and_is_scored_on_unseen_folds(cv):
    results = rulestudy.study(cv)
    glob, per_size = results["global"], results["per size"]
    small, _, large = per_size["rule"]
    assert small[0] < 0.75 < large[0]  # the small band cuts p lower, the large band higher
    assert per_size["cross_fitted"][0]["f1"] > glob["cross_fitted"][0]["f1"] + 0.1
    assert per_size["in_sample"][0]["f1"] >= glob["in_sample"][0]["f1"]
    # cross-fitted counts cover every detection once: the violators found never exceed the annotated
    assert all(r["cross_fitted"][0]["tp"] <= cv.tallies["all"].violations_gt for r in results.values())


def test_the_table_names_every_family(cv):
    text = rulestudy.table(rulestudy.study(cv))
    for name in ("global", "per size", *(f"face-aware, a={a:g}" for a in rulestudy.A_GRID)):
        assert f"| {name} |" in text


@pytest.mark.parametrize("drop", ["all/width", "all/fold", ">=24px/fold_violations"])
def test_numbers_kept_before_folds_were_are_refused_with_the_reason(cv, tmp_path, drop):
    cv.save(tmp_path / "full.npz")
    legacy = {k: v for k, v in np.load(tmp_path / "full.npz").items() if k != drop}
    np.savez_compressed(tmp_path / "legacy.npz", **legacy)
    old = CrossVal.load(tmp_path / "legacy.npz", FOLDS)
    assert old.rule() == cv.rule()  # training's use of them is unchanged
    with pytest.raises(rulestudy.StudyError, match="no detection widths or folds"):
        rulestudy.study(old)


def test_fold_models_run_by_the_levers_keep_what_the_study_needs(scenes_dir, tmp_path, shipped_folds):
    """maskwatch.models.studies.levers --save-oof with fold models (here two copies of the shipped Keras file) writes
    detections the study can cross-fit, and its global rule is the levers' own "as trained" one."""
    import json

    from maskwatch.models.build import DEFAULT_CLASSIFIER
    from maskwatch.models.studies import levers

    assert levers.main([str(DEFAULT_CLASSIFIER), "--scenes", str(scenes_dir), "--folds-from", str(shipped_folds()),
                        "--folds", "2", "--no-held-out", "--save-oof", str(tmp_path / "oof.npz"),
                        "--out", str(tmp_path / "levers")]) == 0
    cv = CrossVal.load(tmp_path / "oof.npz", 2)
    assert cv.has_folds() and set(cv.tallies["all"].fold) == {0, 1}
    assert rulestudy.main([str(tmp_path / "oof.npz"), "--folds", "2", "--out", str(tmp_path / "study.json")]) == 0
    study = json.loads((tmp_path / "study.json").read_text())
    as_trained = json.loads((tmp_path / "levers" / "levers.json").read_text())["out_of_fold"]["as trained"]
    assert study["global"]["rule"][0] == as_trained["rule"]
    assert [b["f1"] for b in study["global"]["in_sample"]] == [as_trained["all"]["f1"], as_trained[">=24px"]["f1"]]


def test_a_set_of_small_faces_outweighed_in_the_pool_gets_its_due_when_sets_count_alike(tmp_path):
    """Two scene sets, one of small faces, one with three times as many large ones (scenes-dev and
    scenes-extra): the pooled one rule fits the large set and loses the small one's violators; a
    rule per size keeps them. Scored per set, on unseen folds."""
    rng = np.random.default_rng(11)
    cv = CrossVal(FOLDS, labels=[np.zeros(1, int)], probs=[np.full((1, 3), 1 / 3)], upscale=(1.0,))
    for k in range(FOLDS):
        for src, sizes, times in (("small", (12,), 1), ("large", (40,), 3)):
            mine = cv.by_source.setdefault(src, {n: Tally(*v) for n, v in RULE_BUCKETS.items()})
            for name, (lo, _) in RULE_BUCKETS.items():
                t = _fold_tally(rng, lo, k, sizes, times)
                cv.tallies[name].extend(t, fold=k)
                mine[name].extend(t, fold=k)
    cv.save(tmp_path / "oof.npz")
    results = rulestudy.study_by_set(CrossVal.load(tmp_path / "oof.npz"))
    f1 = {name: {src: r["cross_fitted"][src][0]["f1"] for src in ("small", "large")} for name, r in results.items()}
    assert f1["one rule, chosen pooled"]["small"] < 0.2 < 0.9 < f1["one rule, chosen pooled"]["large"]
    assert f1["one rule, chosen sets alike"]["small"] >= f1["one rule, chosen pooled"]["small"]
    assert f1["per size, chosen pooled"]["small"] > f1["one rule, chosen pooled"]["small"] + 0.1
    assert f1["per size, chosen pooled"]["large"] >= f1["one rule, chosen pooled"]["large"] - 0.02
    assert "| one rule, chosen sets alike |" in rulestudy.set_table(results)


def test_one_scene_set_has_nothing_to_weigh_per_set(cv):
    with pytest.raises(rulestudy.StudyError, match="one scene set"):
        rulestudy.study_by_set(cv)
