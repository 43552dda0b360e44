"""Classifiers and a detector wrapped for measuring inference-time levers (maskwatch.models.studies.levers):
test-time flip, crops at other margins, the mean of several models, a raw-p model served through
a calibration, and the detector's faces computed once per image. Each wraps
`predict_verdicts(crops) -> (p, p_incorrect or None, embedding)` or `detect_many`."""
from __future__ import annotations

import dataclasses
import hashlib

import cv2
import numpy as np

from maskwatch.models.modelinfo import ModelInfo


class Flipped:
    """A classifier that answers the mean of the crop and its mirror image."""

    def __init__(self, inner):
        self.inner, self.info, self.input_size = inner, inner.info, inner.input_size

    def predict_verdicts(self, crops):
        p, inc, emb = self.inner.predict_verdicts(crops)
        p2, inc2, _ = self.inner.predict_verdicts(np.ascontiguousarray(crops[:, :, ::-1]))
        return (p + p2) / 2, None if inc is None else (inc + inc2) / 2, emb


class Margins:
    """Crops cut at the largest margin, re-cut at each smaller one from their centre; the mean p."""

    def __init__(self, inner, margins: tuple[float, ...]):
        self.inner, self.margins, self.input_size = inner, sorted(margins), inner.input_size
        self.info = dataclasses.replace(inner.info, crop_margin=self.margins[-1])

    def predict_verdicts(self, crops):
        s, widest = self.input_size, self.margins[-1]
        runs = []
        for m in self.margins:
            side = int(round(s * (1 + m) / (1 + widest)))
            lo = (s - side) // 2
            views = np.stack([cv2.resize(c[lo:lo + side, lo:lo + side], (s, s), interpolation=cv2.INTER_LINEAR)
                              for c in crops]) if side != s and len(crops) else crops
            runs.append(self.inner.predict_verdicts(views))
        p = np.mean([r[0] for r in runs], axis=0)
        inc = None if runs[0][1] is None else np.mean([r[1] for r in runs], axis=0)
        return p, inc, runs[0][2]


class Margin:
    """The same classifier fed crops at another margin."""

    def __init__(self, inner, margin: float):
        self.inner, self.input_size = inner, inner.input_size
        self.info = dataclasses.replace(inner.info, crop_margin=margin)

    def predict_verdicts(self, crops):
        return self.inner.predict_verdicts(crops)


class Ensemble:
    """The mean p of several classifiers of one input size and margin (the first one's info)."""

    def __init__(self, members: list):
        self.members, self.info, self.input_size = members, members[0].info, members[0].input_size

    def predict_verdicts(self, crops):
        runs = [m.predict_verdicts(crops) for m in self.members]
        inc = None if runs[0][1] is None else np.mean([r[1] for r in runs], axis=0)
        return np.mean([r[0] for r in runs], axis=0), inc, runs[0][2]


class Calibrated:
    """A raw-p classifier (fold models, ensembles) served through a model's calibration."""

    def __init__(self, inner, info: ModelInfo):
        self.inner, self.info, self.input_size = inner, info, inner.input_size

    def predict_verdicts(self, crops):
        p, inc, emb = self.inner.predict_verdicts(crops)
        return self.info.calibration.apply(p), inc, emb


class CachedDetector:
    """The detector's faces per image, computed once for every lever (keyed by the pixels)."""

    def __init__(self, detector):
        self.detector, self.seen = detector, {}

    def detect_many(self, images, regions=None, max_sides=None):  # whole images at the detector's cap only
        keys = [hashlib.sha1(img.tobytes()).hexdigest() for img in images]
        todo = [i for i, k in enumerate(keys) if k not in self.seen]
        for i, d in zip(todo, self.detector.detect_many([images[i] for i in todo]) if todo else [], strict=True):
            self.seen[keys[i]] = d
        return [self.seen[k] for k in keys]
