"""Three verdicts (mask, no_mask, mask_incorrect): the one rule, the model outputs it comes from,
calibrated confidence, and the wire field that carries it to the events service."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from maskwatch.detections import Detections
from maskwatch.models.calibration import (
    Calibration,
    apply_temperature,
    fit,
    fit_isotonic,
    fit_platt,
    fit_temperature,
    reliability,
)
from maskwatch.models.classifier import violation_scores
from maskwatch.models.modelinfo import ModelError
from maskwatch.rule import INCORRECT_SHARE, verdict
from maskwatch.wire import WireError
from maskwatch.wire import detections as wire

RULE = [
    # p_no_mask (calibrated p(violation)), p_incorrect (its share), face score -> verdict, label
    (0.95, 0.00, 0.90, "no_mask", "no_mask"),
    (0.95, 0.49, 0.90, "no_mask", "no_mask"),
    (0.95, INCORRECT_SHARE, 0.90, "mask_incorrect", "no_mask"),
    (0.95, 0.90, 0.90, "mask_incorrect", "no_mask"),
    (0.80, 0.90, 0.90, "mask", "mask"),      # under the threshold: not a violation of either kind
    (0.95, 0.90, 0.50, "mask", "mask"),      # a doubtful face is never a violation
]


@pytest.mark.parametrize(("p", "share", "score", "expected", "label"), RULE)
def test_the_three_verdict_rule(p, share, score, expected, label):
    det = Detections(np.array([[0, 0, 10, 10]]), np.array([score]), np.array([p]), p_incorrect=np.array([share]))
    assert det.verdicts(0.9, 0.75) == [expected]
    assert det.labels(0.9, 0.75) == [label]  # detect --json's `label` keeps meaning "a violation or not"
    face = det.to_json_faces(0.9, 0.75)[0]
    assert face["verdict"] == expected and face["label"] == label


def test_a_two_class_model_only_ever_says_no_mask():
    det = Detections(np.array([[0, 0, 10, 10]] * 2), np.array([0.9, 0.9]), np.array([0.99, 0.1]))
    assert det.verdicts(0.5) == ["no_mask", "mask"]
    assert det.subset(np.array([True, False])).p_incorrect is None


def test_detections_keep_the_share_through_subset_and_concat():
    a = Detections(np.zeros((2, 4)), np.ones(2), np.ones(2), p_incorrect=np.array([0.1, 0.7]))
    b = Detections(np.zeros((1, 4)), np.ones(1), np.ones(1), p_incorrect=np.array([0.9]))
    both = Detections.concat([a, b])
    np.testing.assert_allclose(both.p_incorrect, [0.1, 0.7, 0.9])
    np.testing.assert_allclose(both.subset(np.array([False, True, True])).p_incorrect, [0.7, 0.9])
    with pytest.raises(ValueError, match="2 boxes but 1 p_incorrect"):
        Detections(np.zeros((2, 4)), np.ones(2), np.ones(2), p_incorrect=np.array([0.1]))


@pytest.mark.parametrize(("probs", "classes", "p", "share"), [
    ([[0.97]], ("mask", "no_mask"), [0.97], None),
    ([[0.1, 0.3, 0.6]], ("mask", "no_mask", "mask_incorrect"), [0.9], [2 / 3]),
    ([[0.9, 0.1, 0.0]], ("mask", "no_mask", "mask_incorrect"), [0.1], [0.0]),
])
def test_model_outputs_become_a_violation_probability_and_a_share(probs, classes, p, share):
    got_p, got_share = violation_scores(np.array(probs, np.float32), classes)
    np.testing.assert_allclose(got_p, p, atol=1e-6)
    assert (got_share is None) == (share is None)
    if share is not None:
        np.testing.assert_allclose(got_share, share, atol=1e-5)


def test_outputs_that_do_not_fit_the_classes_are_a_model_error():
    with pytest.raises(ModelError, match=r"3 outputs for classes \['mask', 'no_mask'\]"):
        violation_scores(np.zeros((2, 3), np.float32), ("mask", "no_mask"), "m/")


def test_temperature_calibration_recovers_a_known_overconfidence():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, 20000)
    y = rng.random(len(z)) < 1 / (1 + np.exp(-z))          # labels drawn from the true probability
    overconfident = 1 / (1 + np.exp(-3 * z))               # a model 3x too sure
    t = fit_temperature(overconfident, y)
    assert 2.6 < t < 3.4
    before, after = reliability(overconfident, y), reliability(apply_temperature(overconfident, t), y)
    assert after["ece"] < 0.02 < before["ece"]
    # monotone: rankings (and so AP, and every decision at a re-expressed threshold) do not change
    order = np.argsort(overconfident, kind="stable")
    assert (np.diff(apply_temperature(overconfident, t)[order]) >= 0).all()
    assert fit_temperature(np.array([0.9, 0.8]), np.array([1, 1])) == 1.0  # one class only: leave it


def test_isotonic_calibration_fixes_what_one_temperature_cannot():
    rng = np.random.default_rng(1)
    p = rng.random(20000)
    # confident detections that are often no violation: the observed rate tops out at 0.6
    truth = np.where(p < 0.5, p * 0.4, 0.2 + (p - 0.5) * 0.8)
    y = rng.random(len(p)) < truth
    chosen, held_out = fit(p, y)
    assert chosen.method == "isotonic" and held_out["isotonic"] < min(held_out["temperature"], held_out["none"]) / 5
    assert reliability(chosen.apply(p), y)["ece"] < 0.02 < reliability(p, y)["ece"]
    # strictly increasing over 0..1: every decision at a re-expressed threshold is the one made before
    grid = np.linspace(0, 1, 5001)
    assert (np.diff(chosen.apply(grid)) > 0).all()
    raw_t = 0.83
    served_t = chosen.apply(np.array([raw_t]))[0]
    np.testing.assert_array_equal(chosen.apply(p) >= served_t, p >= raw_t)
    # what metadata.json stores reads back as the same map
    back = Calibration.from_meta(chosen.to_meta())
    np.testing.assert_allclose(back.apply(grid), chosen.apply(grid), atol=1e-4)


@pytest.mark.parametrize("refused, expected", [
    ({"isotonic"}, {"platt", "temperature"}),                  # the next best of the rest
    ({"isotonic", "platt", "temperature"}, {"none"}),          # no map at all is always allowed
])
def test_a_map_the_guard_refuses_is_never_chosen(refused, expected):
    """The training's AP guard (oofreport.calibrate) passes `keeps`: a map that would cost the
    ranking is not chosen, however well it calibrates."""
    rng = np.random.default_rng(1)
    p = rng.random(20000)
    y = rng.random(len(p)) < np.where(p < 0.5, p * 0.4, 0.2 + (p - 0.5) * 0.8)
    chosen, held_out = fit(p, y, keeps=lambda c: c.method not in refused)
    assert chosen.method in expected
    assert held_out[chosen.method] == min(v for k, v in held_out.items() if k not in refused)


def test_platt_scaling_recovers_a_shift_that_one_temperature_cannot():
    rng = np.random.default_rng(2)
    z = rng.normal(0, 2, 20000)
    y = rng.random(len(z)) < 1 / (1 + np.exp(-(0.5 * z - 1.0)))   # too sure, and too ready to say "violation"
    p = 1 / (1 + np.exp(-z))
    a, b = fit_platt(p, y)
    assert abs(a - 0.5) < 0.05 and abs(b + 1.0) < 0.1
    chosen, held_out = fit(p, y)
    assert held_out["platt"] < held_out["temperature"] / 2 and chosen.method in ("platt", "isotonic")
    platt = Calibration("platt", slope=a, intercept=b)
    assert reliability(platt.apply(p), y)["ece"] < 0.02 < reliability(p, y)["ece"]
    grid = np.linspace(0, 1, 5001)
    assert (np.diff(platt.apply(grid)) >= 0).all() and (np.diff(platt.apply(grid[1:-1])) > 0).any()
    np.testing.assert_allclose(Calibration.from_meta(platt.to_meta()).apply(grid), platt.apply(grid))
    assert fit_platt(np.array([0.9, 0.8]), np.array([1, 1])) == (1.0, 0.0)  # one class only: leave it
    separable = fit_platt(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1]))
    assert np.isfinite(separable).all() and 0 < separable[0] <= 20


def test_isotonic_merges_ties_and_violators():
    knots = fit_isotonic(np.array([0.2, 0.5, 0.5, 0.9, 0.95]), np.array([1, 0, 1, 0, 1]))
    xs, qs = zip(*knots, strict=True)
    assert xs[0] == 0.0 and xs[-1] == 1.0 and all(np.diff(xs) > 0) and all(np.diff(qs) >= 0)
    assert fit(np.array([0.9, 0.8]), np.array([1, 1]))[0] == Calibration()  # one class only: leave it


def test_the_share_travels_in_detections_and_old_entries_read_as_zero():
    msg = wire.DetectionMsg("gate", 1, 10.0, 10.5, "w1", "m1", 640, 360, 0.8,
                            [wire.Face((1.0, 2.0, 30.0, 40.0), 0.9, 0.95, 0.75)], crops=[b"\xff\xd8c"])
    back = wire.decode(wire.encode(msg))
    assert back.faces[0].p_incorrect == 0.75 and back.verdict(back.faces[0]) == "mask_incorrect"
    old = wire.encode(dataclasses.replace(msg, faces=[wire.Face((1.0, 2.0, 30.0, 40.0), 0.9, 0.95)]))
    old[b"meta"] = old[b"meta"].replace(b',"p_incorrect":0.0', b"")
    assert b"p_incorrect" not in old[b"meta"]
    face = wire.decode(old).faces[0]
    assert face.p_incorrect == 0.0 and verdict(True, face.p_incorrect) == "no_mask"


@pytest.mark.parametrize("bad", [1.5, -0.1, "nan"])
def test_a_share_outside_0_1_is_a_wire_error(bad):
    msg = wire.DetectionMsg("gate", 1, 10.0, 10.5, "w1", "m1", 640, 360, 0.8,
                            [wire.Face((1.0, 2.0, 30.0, 40.0), 0.9, 0.95, 0.5)], crops=[b"\xff\xd8c"])
    fields = wire.encode(msg)
    fields[b"meta"] = fields[b"meta"].replace(b'"p_incorrect":0.5', f'"p_incorrect":"{bad}"'.encode())
    with pytest.raises(WireError, match="p_incorrect"):
        wire.decode(fields)


def test_training_scores_out_of_fold_faces_with_the_same_rule():
    from maskwatch.models.training.oofreport import class_ap, predicted_verdicts

    probs = np.array([[0.90, 0.05, 0.05],   # mask
                      [0.10, 0.60, 0.30],   # no mask: most of the violation
                      [0.10, 0.30, 0.60],   # worn incorrectly: most of it
                      [0.60, 0.10, 0.30]])  # p(violation) 0.4: under the threshold, so a mask
    assert predicted_verdicts(probs, 0.5).tolist() == [0, 1, 2, 0]
    rule = [Detections(np.zeros((1, 4)), np.ones(1), np.array([1 - r[0]]), p_incorrect=np.array([r[2] / (1 - r[0])]))
            .verdicts(0.5)[0] for r in probs]
    assert rule == ["mask", "no_mask", "mask_incorrect", "mask"]  # the serving rule agrees
    ap = class_ap(np.array([0, 1, 2, 0]), probs)
    assert ap["mask_incorrect"] == 1.0 and set(ap) == {"mask", "no_mask", "mask_incorrect"}


@pytest.mark.parametrize("probs, labels, ece", [
    ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [0, 1], {"mask": 0.0, "no_mask": 0.0, "mask_incorrect": 0.0}),
    # says 0.8 "mask" for two faces, one of them is: 0.3 off on mask; no_mask said 0.2 where half are
    ([[0.8, 0.2, 0.0], [0.8, 0.2, 0.0]], [0, 1], {"mask": 0.3, "no_mask": 0.3, "mask_incorrect": 0.0}),
    ([[0.5, 0.0, 0.5], [0.5, 0.0, 0.5]], [2, 2], {"mask": 0.5, "no_mask": 0.0, "mask_incorrect": 0.5}),
])
def test_each_class_has_its_calibration_error(probs, labels, ece):
    from maskwatch.models.training.oofreport import class_ece

    assert class_ece(np.array(labels), np.array(probs)) == pytest.approx(ece)
