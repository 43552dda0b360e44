"""Where the out-of-fold false violations are (maskwatch.models.studies.falsestudy): on masked faces, near an
annotated face, or on no annotated face, from the same detections the file holds."""
from __future__ import annotations

import json

import numpy as np
import pytest

from maskwatch.models.build import DEFAULT_CLASSIFIER, build_detector
from maskwatch.models.evaluation.evaluate import tally_scenes
from maskwatch.models.evaluation.metrics import Tally
from maskwatch.models.evaluation.voc import Scene, load_scenes, split_of
from maskwatch.models.pipeline import MaskPipeline
from maskwatch.models.studies import falsestudy
from maskwatch.models.studies.bysize import raw
from maskwatch.models.studies.rulestudy import StudyError
from maskwatch.models.training.crossval import RULE_BUCKETS, CrossVal
from maskwatch.models_config import DetectorConfig


def test_each_flagged_detection_is_sorted_by_what_it_lies_on():
    t = Tally()
    t.conf, t.p_no_mask = [0.9, 0.9, 0.9, 0.9, 0.9, 0.5], [0.8, 0.8, 0.8, 0.8, 0.2, 0.8]
    t.on_violation = [True, False, False, False, False, False]
    t.on_mask = [False, True, False, False, True, False]
    t.width, t.fold = [20.0] * 6, [0] * 6
    cv = CrossVal(1, tallies={"all": t})
    found = [falsestudy.Found(None, np.zeros(4), c, iou) for c, iou in zip(t.conf, [0.6, 0.5, 0.2, 0.0, 0.7, 0.0])]
    # caught, on a masked face, near one (IoU 0.2), on none; then one p does not flag, one face score does not
    assert falsestudy.kinds(cv, found, (0.7, 0.8)).tolist() == [0, 1, 2, 3, -1, -1]
    with pytest.raises(StudyError, match="the detector found 5 faces, the file holds 6"):
        falsestudy.kinds(cv, found[:5], (0.7, 0.8))


def test_each_annotated_violator_is_caught_or_says_why_not():
    t = Tally()
    t.conf, t.p_no_mask = [0.9, 0.7, 0.9, 0.6, 0.9], [0.8, 0.8, 0.5, 0.5, 0.9]
    t.on_violation, t.on_mask = [True, True, True, True, False], [False] * 5
    cv = CrossVal(1, tallies={"all": t})
    boxes = np.array([[0, 0, 10, 10], [20, 0, 40, 20], [50, 0, 80, 30], [90, 0, 95, 5], [0, 50, 8, 58],
                      [100, 0, 150, 50]], np.float32)
    scene = Scene("s", None, boxes, np.array([True, True, True, True, True, False]), np.zeros(6, bool))
    # detections 0-3 lie on violators 0-3, detection 4 on no face; violator 4 has no detection
    found = [falsestudy.Found(scene, boxes[0], 0.9, 1.0, 0), falsestudy.Found(scene, boxes[1], 0.7, 1.0, 1),
             falsestudy.Found(scene, boxes[2], 0.9, 1.0, 2), falsestudy.Found(scene, boxes[3], 0.6, 1.0, 3),
             falsestudy.Found(scene, np.zeros(4), 0.9, 0.0, -1)]
    width, why = falsestudy.misses(cv, found, [scene], (0.7, 0.8))
    assert width.tolist() == [10, 20, 30, 5, 8]
    assert [falsestudy.MISSES[i] for i in why] == [
        "caught", "face score below the rule", "p below the rule", "both below the rule", "not found"]


def _check_counts(report: dict, tally) -> None:
    """The report's caught and false add up to the tally's counts at the rule, its misses to its violators."""
    tp, fp, _ = tally.violation_counts(*report["rule"])
    every, missed = report["rows"][-1], report["missed"][-1]
    assert every["width"] == missed["width"] == "all" and every["caught"] == missed["caught"] == tp and tp > 0
    assert sum(every[k] for k in falsestudy.KINDS[1:]) == fp
    assert sum(missed[k] for k in falsestudy.MISSES) == tally.violations_gt
    for rows, names in ((report["rows"], falsestudy.KINDS), (report["missed"], falsestudy.MISSES)):
        assert [sum(r[k] for r in rows[:-1]) for k in names] == [rows[-1][k] for k in names]


def test_the_study_counts_what_the_rule_calls_on_the_files_own_detections(scenes_oof, scenes_dir, tmp_path):
    path, cv = scenes_oof
    assert falsestudy.main([str(path), "--scenes", str(scenes_dir), "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "falsestudy.json").read_text())
    assert report["split"] == "train" and tuple(report["rule"]) == cv.rule()
    _check_counts(report, cv.tallies["all"])
    every = report["rows"][-1]
    assert (tmp_path / "false-on-no-annotated-face.jpg").is_file() == (every["on no annotated face"] > 0)


def test_the_test_split_is_counted_for_a_model_at_the_files_rule(scenes_oof, scenes_dir, tmp_path):
    path, cv = scenes_oof
    assert falsestudy.main([str(path), "--scenes", str(scenes_dir), "--split", "test", "--model",
                            str(DEFAULT_CLASSIFIER), "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "falsestudy.json").read_text())
    assert report["split"] == "test" and tuple(report["rule"]) == cv.rule()
    test = [s for s in load_scenes(scenes_dir) if split_of(s.stem) == "test"]
    pipe = MaskPipeline(build_detector(DetectorConfig()), raw(DEFAULT_CLASSIFIER), 0.5, min_face_score=0.0)
    tally = tally_scenes(pipe, test, RULE_BUCKETS)["all"]
    assert tally.violations_gt == sum(int(s.violation.sum()) for s in test) > 0
    _check_counts(report, tally)


@pytest.mark.parametrize("flags", [["--split", "test"], ["--model", str(DEFAULT_CLASSIFIER)]])
def test_a_model_goes_with_the_test_split(scenes_oof, scenes_dir, capsys, flags):
    with pytest.raises(SystemExit) as e:
        falsestudy.main([str(scenes_oof[0]), "--scenes", str(scenes_dir), *flags])
    assert e.value.code == 2 and "--model goes with --split test" in capsys.readouterr().err


def test_another_scene_set_is_refused(scenes_oof, scenes_missing_one):
    with pytest.raises(StudyError, match="not the detections of this file"):
        falsestudy.main([str(scenes_oof[0]), "--scenes", str(scenes_missing_one)])
