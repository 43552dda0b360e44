"""Whether the detector's looks agree (maskwatch.models.studies.scalestudy): each kept face's looks, their fusions,
and the study re-scoring the file's own detections with each fusion in place of the served score."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from maskwatch.models.build import DEFAULT_CLASSIFIER, build_detector
from maskwatch.models.studies import scalestudy
from maskwatch.models.studies.rulestudy import StudyError
from maskwatch.models.training.crossval import RULE_BUCKETS
from maskwatch.models_config import DetectorConfig

SERVED, SECOND, MEAN, NOISY_OR = scalestudy.FUSIONS


@pytest.mark.parametrize(("score", "looks", "expected"), [
    # three looks: the served score stays, the second-surest is 0.8, mean 1.7 / 3, noisy-or 1 - 0.1 * 0.2
    (0.9, [0.9, 0.8, 0.0], {SERVED: 0.9, SECOND: 0.8, MEAN: 1.7 / 3, NOISY_OR: 0.98}),
    # one view found it: the second-surest is the other views' 0
    (0.9, [0.9, 0.0, 0.0], {SERVED: 0.9, SECOND: 0.0, MEAN: 0.3, NOISY_OR: 0.9}),
    # a detector of one view: every fusion is that look
    (0.7, [0.7], {SERVED: 0.7, SECOND: 0.7, MEAN: 0.7, NOISY_OR: 0.7}),
])
def test_each_fusion_of_a_faces_looks(score, looks, expected):
    for name, want in expected.items():
        got = scalestudy.FUSIONS[name](np.array([score]), np.array([looks], np.float32))
        assert got.shape == (1,) and got[0] == pytest.approx(want, abs=1e-6), name


def test_the_looks_come_with_the_same_faces_detect_finds(scene_images):
    detector = build_detector(DetectorConfig())
    for path in scene_images[:6]:
        img = cv2.imread(str(path))
        faces, looks = detector.detect_by_view(img)
        plain = detector.detect(img)
        np.testing.assert_array_equal(faces.boxes, plain.boxes)
        np.testing.assert_array_equal(faces.scores, plain.scores)
        assert looks.shape[0] == len(faces) and looks.shape[1] >= len(detector.scales)
        assert ((looks >= 0) & (looks <= 1)).all()
        # NMS keeps one view's own box: that view's look is at least the face's score
        assert (looks.max(axis=1) >= faces.scores - 1e-6).all(), path.name


def test_the_study_rescoring_with_the_served_score_is_trainings_rule(scenes_oof, scenes_dir, tmp_path):
    path, cv = scenes_oof
    out = tmp_path / "scalestudy.json"
    assert scalestudy.main([str(path), "--scenes", str(scenes_dir), "--model", str(DEFAULT_CLASSIFIER),
                            "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    served = report["out_of_fold"][SERVED]
    rule = cv.rule()
    assert served["rule"][0] == [round(rule[0], 4), round(rule[1], 4)]
    for got, name in zip(served["in_sample"], RULE_BUCKETS, strict=True):
        assert got["f1"] == round(cv.tallies[name].f1(*rule)[2], 3), name
    assert set(report["out_of_fold"]) == set(scalestudy.FUSIONS) == set(report["held_out"])
    assert all(set(held) == set(RULE_BUCKETS) for held in report["held_out"].values())


def test_another_scene_set_is_refused(scenes_oof, scenes_missing_one):
    with pytest.raises(StudyError, match="not the detections of this file"):
        scalestudy.main([str(scenes_oof[0]), "--scenes", str(scenes_missing_one)])
