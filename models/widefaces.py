"""A second model for the wide faces (`classifier.large_faces`): the main model judges every face
and gives every embedding (who is who is unchanged), and the faces at least `from_px` wide are
judged again by a model trained on large faces, its p re-expressed on the main model's scale so
that it decides by its own rule. Why and what it measured: docs/model-card.md, "A second network
for large faces"."""
from __future__ import annotations

import numpy as np

from maskwatch.geometry import widths
from maskwatch.models.calibration import onto
from maskwatch.models.classifier import MaskClassifier
from maskwatch.models.crops import crop_faces


class WideFaces:
    def __init__(self, classifier: MaskClassifier, from_px: float):
        self.classifier, self.from_px = classifier, from_px

    def judge(self, images: list, boxes: list[np.ndarray], target: float
              ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        """For each image, of its classified faces' `boxes`: (the indices of the wide ones, their p on
        the scale whose threshold is `target`, the share of it that is "worn incorrectly" or None)."""
        clf = self.classifier
        wide = [np.flatnonzero(widths(b) >= self.from_px) for b in boxes]
        crops = [crop_faces(img, b[w], clf.input_size, clf.info.crop_margin) for img, b, w in zip(images, boxes, wide)
                 if len(w)]
        if not crops:
            return [(w, np.zeros(0, np.float32), None) for w in wide]
        p, share, _ = clf.predict_verdicts(np.concatenate(crops))
        p = onto(p, clf.info.threshold, target)
        out, start = [], 0
        for w in wide:
            n = len(w)
            out.append((w, p[start:start + n], None if share is None else share[start:start + n]))
            start += n
        return out
