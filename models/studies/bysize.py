"""An input size per face size: a second classifier for the small faces, measured as a lever.

The shipped classifier sees every face enlarged to 128 px; a face under 16 px is a blur there. A
face-size specialist (`maskwatch train --input-size 64 --view-px 6,24`: views of every training
face shrunk to 6-24 px, at its own smaller input) may read tiny faces better. Whether it does is
measured on the same detections as the shipped model's: each face narrower than `below` px (its
detection box, what serving knows of its size) takes the specialist's p(violation), or the mean
of both models' (`mix` 0.5), and every other face keeps the shipped model's. Out of fold, the rule
is chosen for each route as training chooses it; on the test split, each route is scored at its
out-of-fold rule, both models raw (no calibration: the rule was chosen on raw p).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from maskwatch.models.classifier import MaskClassifier
from maskwatch.models.evaluation.metrics import Tally
from maskwatch.models.modelinfo import ModelError, ModelInfo

# (below px, mix): the specialist's share of p(violation) for faces narrower than `below`
ROUTES = ((16.0, 1.0), (16.0, 0.5), (24.0, 1.0), (24.0, 0.5))


def route_name(below: float, mix: float) -> str:
    who = "the small-face model" if mix == 1.0 else "mean of both models"
    return f"faces < {below:g} px: {who}"


def routed(main: Tally, small: Tally, below: float, mix: float) -> Tally:
    """main's detections, p(violation) of those narrower than `below` px moved `mix` of the way to
    small's. Both must be tallies of the same detections, in the same order (one detector)."""
    if len(main.conf) != len(small.conf) or not (np.array_equal(main.conf, small.conf)
                                                  and np.array_equal(main.width, small.width)):
        raise ModelError(f"routing by face size needs both models' tallies of the same detections: "
                         f"{len(main.conf)} and {len(small.conf)} detections, or their scores or widths differ")
    p, q = np.asarray(main.p_no_mask, float), np.asarray(small.p_no_mask, float)
    narrow = np.asarray(main.width) < below
    return with_p(main, np.where(narrow, (1 - mix) * p + mix * q, p))


def with_p(t: Tally, p) -> Tally:
    """A copy of t's detections with p(violation) `p` instead of its own."""
    return dataclasses.replace(t, **{f: list(getattr(t, f)) for f in ("conf", "on_violation", "on_mask", "width",
                                                                      "fold")},
                               p_no_mask=np.asarray(p, float).tolist(), fold_violations=dict(t.fold_violations))


def routes(main: dict[str, Tally], small: dict[str, Tally]) -> dict[str, dict[str, Tally]]:
    """Every route of ROUTES, bucket by bucket."""
    return {route_name(b, m): {k: routed(main[k], small[k], b, m) for k in main} for b, m in ROUTES}


def raw(path) -> MaskClassifier:
    """A model folder's classifier serving raw p (its rule chosen elsewhere), at its own input size."""
    return MaskClassifier(ModelInfo.load(path).raw_p(), backend="tflite")
