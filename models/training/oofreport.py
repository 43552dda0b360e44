"""What cross-validation's out-of-fold predictions say about a model: its three-verdict
confusion, per-class AP at annotated boxes, and the calibration of p(violation)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from maskwatch.models.classifier import violation_scores
from maskwatch.models.modelinfo import CLASSES
from maskwatch.rule import INCORRECT_SHARE


def predicted_verdicts(probs: np.ndarray, threshold: float) -> np.ndarray:
    """The three-verdict rule on raw softmax rows: a violation at p(violation) >= threshold, and
    mask_incorrect when that is the larger part of it (maskwatch.detections.Detections.verdicts)."""
    p, share = violation_scores(probs, CLASSES)
    return np.where(p < threshold, 0, np.where(share >= INCORRECT_SHARE, 2, 1))


def class_ap(labels: np.ndarray, probs: np.ndarray) -> dict:
    """Average precision of each class against the rest, at annotated boxes."""
    from maskwatch.models.evaluation.metrics import average_precision

    return {c: round(average_precision(probs[:, i], labels == i, int((labels == i).sum())), 3)
            for i, c in enumerate(CLASSES)}


def three_class(cv, threshold: float, out: Path | None) -> dict:
    """The out-of-fold confusion (drawn to out/confusion_matrix.png where out is given) and per-class
    AP at the annotators' boxes, at the raw threshold: the `metrics` training writes."""
    from maskwatch.models.evaluation import plots

    labels, probs = cv.annotated()
    confusion = plots.confusion_matrix(labels, predicted_verdicts(probs, threshold), CLASSES,
                                       out / "confusion_matrix.png" if out else None,
                                       f"out-of-fold faces at annotated boxes, raw p >= {threshold:.3g}")
    return {"out_of_fold_confusion": confusion, "out_of_fold_class_ap": class_ap(labels, probs)}


def calibrate(cv, out: Path | None, min_score: float):
    """The calibration of p(violation), fitted on the out-of-fold detections that pass the rule's
    face score (the faces that can become violations: what an operator sees) (maskwatch.models.calibration),
    and what it did: (Calibration, report for metadata.json); the reliability diagram is drawn to
    out/reliability.png where out is given."""
    from maskwatch.models import calibration as cal
    from maskwatch.models.evaluation import plots

    p, hit = cv.detections(min_score)
    chosen, held_out = cal.fit(p, hit)
    before, after = cal.reliability(p, hit), cal.reliability(chosen.apply(p), hit)
    if out is not None:
        plots.reliability_diagram(before, after, out / "reliability.png",
                                  f"out-of-fold detections ({before['n']} faces)", chosen.method)
    return chosen, {**chosen.to_meta(),
                    "fitted_on": f"the out-of-fold detections of the cross-validation with a face score >= "
                                 f"{min_score:.3f} (the rule's), labelled by whether each is a ground-truth "
                                 "violation (IoU >= 0.3)",
                    "chosen_by": "the lower ECE on held-out halves (fitted on one random half, scored on the "
                                 "other, both ways)",
                    "held_out_ece": held_out,
                    "ece_before": before["ece"], "ece_after": after["ece"], "faces": before["n"],
                    "bins_before": before["bins"], "bins_after": after["bins"]}
