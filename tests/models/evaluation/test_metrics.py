import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.settings import ROOT

from maskwatch.models.evaluation.metrics import Tally, average_precision, best_rule, greedy_match

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
    tool = ROOT.parent / "shared" / "tools" / "score.py"
    if not tool.is_file():
        pytest.skip("../shared/tools/score.py not present")
    import cv2

    from maskwatch.models.evaluation.voc import load_scenes

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


def _two_images() -> Tally:
    """Image 0: a violator caught, a missed one, a false violation on a mask; image 1: one caught."""
    t = Tally()
    t.add(np.array([[1, 1, 11, 11], [20, 0, 50, 30], [60, 0, 90, 30]], np.float32),
          np.array([0.9, 0.8, 0.7]), np.array([0.9, 0.2, 0.8]), GT, VIOL)
    t.add(GT[:1], np.array([0.9]), np.array([0.9]), GT[:1], VIOL[:1])
    return t


def test_image_counts_split_the_pooled_counts_by_image():
    t = _two_images()
    assert t.image_counts(0.5).tolist() == [[1, 1, 1], [1, 0, 0]]
    assert tuple(t.image_counts(0.5).sum(axis=0)) == t.violation_counts(0.5)
    pooled = Tally()
    pooled.extend(_two_images())
    pooled.extend(_two_images(), fold=1)
    assert pooled.image_counts(0.5).tolist() == [[1, 1, 1], [1, 0, 0]] * 2


@pytest.mark.parametrize("counts, point", [
    ([[3, 1, 0]] * 20, 6 / 7),                 # every image alike: nothing to resample
    ([[2, 0, 0], [0, 2, 2]] * 10, 0.5),        # halves that disagree: a wide interval
    ([[1, 0, 0]] * 5 + [[0, 1, 0]] * 5, 2 / 3),
])
def test_the_interval_over_images_holds_the_number_and_narrows_only_where_images_agree(counts, point):
    from maskwatch.models.evaluation.metrics import f1_interval, f1_of

    lo, hi = f1_interval(np.array(counts))
    assert f1_of(np.array(counts).sum(axis=0)) == pytest.approx(point)
    assert lo <= point <= hi
    if len({tuple(c) for c in counts}) == 1:
        assert lo == pytest.approx(point) and hi == pytest.approx(point)
    else:
        assert hi - lo > 0.1
    assert f1_interval(np.array(counts)) == (lo, hi)  # a fixed seed: a report repeats


def test_more_images_like_these_narrow_the_interval():
    from maskwatch.models.evaluation.metrics import f1_interval

    few, many = np.array([[2, 0, 0], [0, 1, 1]] * 5), np.array([[2, 0, 0], [0, 1, 1]] * 50)
    assert np.subtract(*f1_interval(many)[::-1]) < np.subtract(*f1_interval(few)[::-1]) / 2


def test_a_paired_gain_is_zero_for_one_model_and_beyond_noise_only_where_every_image_gains():
    from maskwatch.models.evaluation.metrics import f1_gain_interval

    old = np.array([[1, 1, 1]] * 30)
    assert f1_gain_interval(old, old) == (0.0, 0.0)
    better = np.array([[2, 0, 0]] * 30)   # each image: the missed violator caught, the false one gone
    assert f1_gain_interval(old, better)[0] > 0.4
    mixed = np.array([[2, 0, 0], [0, 2, 2]] * 15)  # as many images better as worse
    lo, hi = f1_gain_interval(old, mixed)
    assert lo < 0 < hi
    with pytest.raises(ValueError, match="same images"):
        f1_gain_interval(old, old[:10])


def test_an_out_of_fold_file_keeps_the_images_and_an_older_one_gives_no_interval(tmp_path, without_image_ids):
    from maskwatch.models.training.crossval import CrossVal

    t = _two_images()
    lo, hi = t.summary(0.5)["violation_f1_ci"]
    assert lo <= t.summary(0.5)["violation_f1"] <= hi
    cv = CrossVal(2, labels=[np.zeros(1, np.int64)], probs=[np.ones((1, 3), np.float32)])
    for name in cv.tallies:
        cv.tallies[name].extend(_two_images(), fold=0)
        cv.tallies[name].extend(_two_images(), fold=1)
    cv.save(tmp_path / "oof.npz")
    loaded = CrossVal.load(tmp_path / "oof.npz").tallies["all"]
    assert loaded.image_counts(0.5).tolist() == cv.tallies["all"].image_counts(0.5).tolist()
    assert loaded.summary(0.5) == cv.tallies["all"].summary(0.5)
    old = CrossVal.load(without_image_ids(tmp_path / "oof.npz")).tallies["all"]
    assert "violation_f1_ci" not in old.summary(0.5)
    with pytest.raises(ValueError, match="which image"):
        old.image_counts(0.5)
