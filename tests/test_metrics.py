import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.metrics import Tally, average_precision, best_rule, greedy_match

GT = np.array([[0, 0, 10, 10], [20, 0, 50, 30], [60, 0, 90, 30]], np.float32)
VIOL = np.array([True, True, False])


def test_greedy_match_highest_score_first_and_one_to_one():
    dets = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [61, 0, 91, 30]], np.float32)
    assert greedy_match(dets, np.array([0.5, 0.9, 0.8]), GT).tolist() == [-1, 0, 2]


def test_tally_counts_like_the_scoring_tool():
    t, t24 = Tally(), Tally(24)
    dets = np.array([[1, 1, 11, 11], [20, 0, 50, 30], [60, 0, 90, 30], [100, 0, 105, 5]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    p = np.array([0.9, 0.2, 0.8, 0.9])  # tp, fn (missed violation), fp on a mask, fp on nothing
    for tally in (t, t24):
        tally.add(dets, scores, p, GT, VIOL)
    assert t.summary(0.5)["face_recall"] == 1.0
    assert t.violation_counts(0.5) == (1, 2, 1)
    # >=24 px ignores the 10 px face, its detection and the 5 px false positive
    assert t24.faces_gt == 2 and t24.violation_counts(0.5) == (0, 1, 1)


def test_pooled_folds_count_like_one_tally():
    dets = np.array([[1, 1, 11, 11], [20, 0, 50, 30], [60, 0, 90, 30]], np.float32)
    scores, p = np.array([0.9, 0.8, 0.7]), np.array([0.9, 0.2, 0.8])
    whole, a, b = Tally(), Tally(), Tally()
    for tally in (whole, a, b):
        tally.add(dets, scores, p, GT, VIOL)
    whole.add(dets, scores, p, GT, VIOL)
    a.extend(b)
    assert a.summary(0.5) == whole.summary(0.5) and a.violation_counts(0.5) == (2, 2, 2)


def test_best_rule_serves_every_bucket():
    # a tiny violation (p 0.6, score 0.4), a big one (p 0.95) and a big masked face (p 0.7): on all
    # faces alone the best cut takes the tiny one and the mask with it (F1 0.8, >= 24 px 0.67);
    # for both buckets together it leaves both out (0.67 and 1.0)
    dets, scores, p = GT.copy(), np.array([0.4, 0.9, 0.95]), np.array([0.6, 0.95, 0.7])
    t_all, t24 = Tally(), Tally(24)
    for t in (t_all, t24):
        t.add(dets, scores, p, GT, VIOL)
    assert best_rule([t_all])[0] <= 0.6 and t_all.f1(*best_rule([t_all]))[2] == pytest.approx(0.8)
    joint = best_rule([t_all, t24])
    assert joint[0] > 0.7 and t24.f1(*joint)[2] == pytest.approx(1.0)


def test_average_precision_perfect_and_half():
    assert average_precision([0.9, 0.8], [True, True], 2) == pytest.approx(1.0)
    assert average_precision([0.9, 0.8], [False, True], 2) == pytest.approx(0.25)


def test_agrees_with_the_shared_scoring_tool(tmp_path, scenes_dir, pipeline):
    """Where ../shared/tools/score.py exists, our metric must give its numbers on our own output."""
    tool = Path(__file__).resolve().parents[2] / "shared" / "tools" / "score.py"
    if not tool.is_file():
        pytest.skip("../shared/tools/score.py not present")
    import cv2

    from models.voc import load_scenes

    lines, tally, t24 = [], Tally(), Tally(24)
    for sc in load_scenes(scenes_dir):
        det = pipeline.run([cv2.imread(str(sc.image))])[0]
        lines.append(json.dumps({"image": str(sc.image), "faces": det.to_json_faces(pipeline.threshold)}))
        # round like the JSON does, so both see the same numbers
        faces = json.loads(lines[-1])["faces"]
        boxes = np.array([f["box"] for f in faces], np.float32).reshape(-1, 4)
        s, p = np.array([f["score"] for f in faces]), np.array([f["p_no_mask"] for f in faces])
        tally.add(boxes, s, p, sc.boxes, sc.violation)
        t24.add(boxes, s, p, sc.boxes, sc.violation)
    pred = tmp_path / "pred.jsonl"
    pred.write_text("\n".join(lines) + "\n")
    out = json.loads(subprocess.run([sys.executable, str(tool), str(scenes_dir), str(pred)],
                                    capture_output=True, text=True, check=True).stdout)
    for ours, theirs in ((tally.summary(pipeline.threshold), out["all"]),
                         (t24.summary(pipeline.threshold), out["faces>=24px"])):
        for key in ("face_recall", "violation_precision", "violation_recall", "violation_f1",
                    "violation_ap", "mask_ap"):
            assert ours[key] == pytest.approx(theirs[key], abs=0.002), key
