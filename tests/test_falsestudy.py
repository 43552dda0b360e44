"""Where the out-of-fold false violations are (models.falsestudy): on masked faces, near an
annotated face, or on no annotated face, from the same detections the file holds."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from models import falsestudy
from models.crossval import CrossVal
from models.metrics import Tally
from models.rulestudy import StudyError
from models.voc import load_scenes, split_of


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


def test_the_study_counts_what_the_rule_calls_on_the_files_own_detections(scenes_oof, scenes_dir, tmp_path):
    path, cv = scenes_oof
    assert falsestudy.main([str(path), "--scenes", str(scenes_dir), "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "falsestudy.json").read_text())
    rule = tuple(report["rule"])
    assert rule == cv.rule()
    tp, fp, _ = cv.tallies["all"].violation_counts(*rule)
    every = report["rows"][-1]
    assert every["width"] == "all" and every["caught"] == tp and tp > 0
    assert sum(every[k] for k in falsestudy.KINDS[1:]) == fp
    assert [sum(r[k] for r in report["rows"][:-1]) for k in falsestudy.KINDS] == [every[k] for k in falsestudy.KINDS]
    assert (tmp_path / "false-on-no-annotated-face.jpg").is_file() == (every["on no annotated face"] > 0)


def test_another_scene_set_is_refused(scenes_oof, scenes_dir, tmp_path):
    path, _ = scenes_oof
    fewer = tmp_path / "scenes"
    shutil.copytree(scenes_dir, fewer)
    drop = next(s for s in load_scenes(fewer) if split_of(s.stem) != "test" and len(s.boxes))
    drop.image.unlink()
    with pytest.raises(StudyError, match="not the detections of this file"):
        falsestudy.main([str(path), "--scenes", str(fewer)])
