"""What cross-validation's out-of-fold predictions say about a model: its three-verdict
confusion, per-class AP at annotated boxes, and the calibration of p(violation)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from maskwatch.models.classifier import violation_scores
from maskwatch.models.evaluation.metrics import average_precision
from maskwatch.models.modelinfo import CLASSES
from maskwatch.rule import INCORRECT_SHARE

# measured (python -m maskwatch.models.studies.calibrationap): the shipped 20261203-1427's isotonic
# map cost 0.024 of out-of-fold violation AP (0.886 -> 0.862), the fall the issue saw on held-out sets
AP_TOLERANCE = 0.005


def predicted_verdicts(probs: np.ndarray, threshold: float) -> np.ndarray:
    """The three-verdict rule on raw softmax rows: a violation at p(violation) >= threshold, and
    mask_incorrect when that is the larger part of it (maskwatch.detections.Detections.verdicts)."""
    p, share = violation_scores(probs, CLASSES)
    return np.where(p < threshold, 0, np.where(share >= INCORRECT_SHARE, 2, 1))


def class_ap(labels: np.ndarray, probs: np.ndarray) -> dict:
    """Average precision of each class against the rest, at annotated boxes."""
    return {c: round(average_precision(probs[:, i], labels == i, int((labels == i).sum())), 3)
            for i, c in enumerate(CLASSES)}


def class_ece(labels: np.ndarray, probs: np.ndarray) -> dict:
    """Expected calibration error of each class's softmax probability against "is this class", at
    annotated boxes (the served map calibrates p(violation) alone: this is what the raw classes say)."""
    from maskwatch.models.calibration import reliability
    return {c: reliability(probs[:, i], labels == i)["ece"] for i, c in enumerate(CLASSES)}


def three_class(cv, threshold: float, out: Path | None) -> dict:
    """The out-of-fold confusion (drawn to out/confusion_matrix.png where out is given), per-class
    AP and ECE at the annotators' boxes, at the raw threshold: the `metrics` training writes."""
    from maskwatch.models.evaluation import plots

    labels, probs = cv.annotated()
    confusion = plots.confusion_matrix(labels, predicted_verdicts(probs, threshold), CLASSES,
                                       out / "confusion_matrix.png" if out else None,
                                       f"out-of-fold faces at annotated boxes, raw p >= {threshold:.3g}")
    return {"out_of_fold_confusion": confusion, "out_of_fold_class_ap": class_ap(labels, probs),
            "out_of_fold_class_ece": class_ece(labels, probs)}


def calibrate(cv, out: Path | None, min_score: float):
    """The calibration of p(violation), fitted on the out-of-fold detections that pass the rule's
    face score (the faces that can become violations: what an operator sees) (maskwatch.models.calibration),
    and what it did: (Calibration, report for metadata.json); the reliability diagram is drawn to
    out/reliability.png where out is given."""
    from maskwatch.models import calibration as cal
    from maskwatch.models.evaluation import plots

    p, hit = cv.detections(min_score)
    # the served p ranks violations (score x p, the AP of tools/score.py): a map that costs the
    # ranking more than AP_TOLERANCE is not chosen, however well calibrated
    t = cv.tallies["all"]
    conf, raw = np.asarray(t.conf, np.float64), np.asarray(t.p_no_mask, np.float64)

    def ranking_ap(c) -> float:
        return average_precision(conf * (raw if c is None else c.apply(raw)), t.on_violation, t.violations_gt)

    ap_raw = ranking_ap(None)
    chosen, held_out = cal.fit(p, hit, keeps=lambda c: ranking_ap(c) >= ap_raw - AP_TOLERANCE)
    before, after = cal.reliability(p, hit), cal.reliability(chosen.apply(p), hit)
    if out is not None:
        plots.reliability_diagram(before, after, out / "reliability.png",
                                  f"out-of-fold detections ({before['n']} faces)", chosen.method)
    return chosen, {**chosen.to_meta(),
                    "fitted_on": f"the out-of-fold detections of the cross-validation with a face score >= "
                                 f"{min_score:.3f} (the rule's), labelled by whether each is a ground-truth "
                                 "violation (IoU >= 0.3)",
                    "chosen_by": "the lower ECE on held-out halves (fitted on one random half, scored on the "
                                 f"other, both ways) among the maps that keep the out-of-fold violation AP (score x p) "
                                 f"within {AP_TOLERANCE} of the raw p's",
                    "ap_out_of_fold": {"raw": round(ap_raw, 4), "served": round(ranking_ap(chosen), 4)},
                    "held_out_ece": held_out,
                    "ece_before": before["ece"], "ece_after": after["ece"], "faces": before["n"],
                    "bins_before": before["bins"], "bins_after": after["bins"]}
