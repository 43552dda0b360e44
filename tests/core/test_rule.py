"""The one decision rule, asked by every stage."""
from __future__ import annotations

import numpy as np
import pytest

from maskwatch.detections import Detections
from maskwatch.rule import INCORRECT_SHARE, Rule, verdict


@pytest.mark.parametrize("p, score, violates, unsure", [
    (0.9, 0.9, True, False),
    (0.5, 0.5, True, False),    # at the threshold and at the minimum score: counts
    (0.9, 0.3, False, True),    # no mask, but too doubtful a face to count
    (0.2, 0.9, False, False),
])
def test_the_rule_on_one_face(p, score, violates, unsure):
    rule = Rule(0.5, 0.5)
    assert bool(rule.violates(p, score)) is violates
    assert rule.unsure(p, score) is unsure


def test_detections_ask_the_same_rule_element_wise():
    det = Detections(np.array([[0, 0, 9, 9]] * 4, np.float32), np.array([0.9, 0.3, 0.9, 0.9]),
                     np.array([0.9, 0.9, 0.2, 0.5]))
    rule = Rule(0.5, 0.5)
    assert det.violations(0.5, 0.5).tolist() == [bool(rule.violates(p, s)) for p, s in zip(det.p_no_mask, det.scores)]


@pytest.mark.parametrize("is_violation, share, expected", [
    (False, 0.9, "mask"), (True, 0.0, "no_mask"), (True, INCORRECT_SHARE, "mask_incorrect"),
])
def test_the_verdict_of_a_face(is_violation, share, expected):
    assert verdict(is_violation, share) == Rule.verdict(is_violation, share) == expected
