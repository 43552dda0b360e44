"""What cross-validation's out-of-fold predictions say about a model: its three-verdict
confusion, per-class AP at annotated boxes, and the temperature that calibrates p(violation)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from maskwatch.detections import INCORRECT_SHARE
from models.classifier import CLASSES, violation_scores


def predicted_verdicts(probs: np.ndarray, threshold: float) -> np.ndarray:
    """The three-verdict rule on raw softmax rows: a violation at p(violation) >= threshold, and
    mask_incorrect when that is the larger part of it (maskwatch.detections.Detections.verdicts)."""
    p, share = violation_scores(probs, CLASSES)
    return np.where(p < threshold, 0, np.where(share >= INCORRECT_SHARE, 2, 1))


def class_ap(labels: np.ndarray, probs: np.ndarray) -> dict:
    """Average precision of each class against the rest, at annotated boxes."""
    from models.metrics import average_precision

    return {c: round(average_precision(probs[:, i], labels == i, int((labels == i).sum())), 3)
            for i, c in enumerate(CLASSES)}


def calibrate(cv, out: Path) -> dict:
    """One temperature for p(violation), fitted on every out-of-fold detection (models.calibration)."""
    from models import calibration as cal

    p, hit = cv.detections()
    t = cal.fit_temperature(p, hit)
    before, after = cal.reliability(p, hit), cal.reliability(cal.apply_temperature(p, t), hit)
    cal.plot(before, after, out / "reliability.png", f"out-of-fold detections ({before['n']} faces)")
    return {"method": "temperature", "temperature": round(t, 4),
            "fitted_on": "every out-of-fold detection of the cross-validation, labelled by whether it is a "
                         "ground-truth violation (IoU >= 0.3)",
            "ece_before": before["ece"], "ece_after": after["ece"], "faces": before["n"],
            "bins_before": before["bins"], "bins_after": after["bins"]}
