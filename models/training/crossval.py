"""K-fold cross-validation over the training scenes: out-of-fold scores choose the decision rule.

A rule chosen on one small validation split (42 images, 57 violations) swung held-out F1 by several
points. Here every non-test scene is held out once: each fold's model is trained on the other
folds (plus every crop-folder face) and runs the real pipeline, detector included, on its own
held-out scenes. The pooled out-of-fold detections (about 400 images) choose (threshold, minimum
face score) and report honest metrics for a model trained the same way on all of them.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from maskwatch.models.classifier import MaskClassifier
from maskwatch.models.evaluation.metrics import DETECTION_FIELDS, IMAGE_FIELDS, Tally, best_rule
from maskwatch.models.evaluation.voc import Scene, fold_of
from maskwatch.models.modelinfo import CLASSES, RULE_UPSCALE_BEFORE_RECORDED, ModelError, ModelInfo
from maskwatch.models.pipeline import MaskPipeline
from maskwatch.models.training.dataset import Samples, plain_view

log = logging.getLogger(__name__)

PREDICT_BATCH = 64
# the rule is chosen for both targets: all faces and faces >= 24 px
RULE_BUCKETS = {"all": (0.0, float("inf")), ">=24px": (24.0, float("inf"))}
LEGACY_FILL = {"width": float("nan"), "fold": -1}  # what an out_of_fold.npz older than these fields says


@dataclass
class CrossVal:
    folds: int
    tallies: dict[str, Tally] = field(default_factory=lambda: {k: Tally(*v) for k, v in RULE_BUCKETS.items()})
    labels: list[np.ndarray] = field(default_factory=list)      # annotated faces of held-out scenes: verdicts
    probs: list[np.ndarray] = field(default_factory=list)  # their out-of-fold softmax (N, 3)
    curves: dict[str, list[list[float]]] = field(default_factory=dict)  # val_* per epoch, per fold
    # detector.upscale of the pipeline that found these faces: the rule chosen here fits that detector
    upscale: tuple[float, ...] = ()
    # the same detections per scene set (train --more-scenes), for the report per set
    by_source: dict[str, dict[str, Tally]] = field(default_factory=dict)

    def rule(self) -> tuple[float, float]:
        return best_rule(list(self.tallies.values()))

    def summary(self, threshold: float, min_score: float) -> dict:
        return {name: t.summary(threshold, min_score) for name, t in self.tallies.items()}

    def summary_by_source(self, threshold: float, min_score: float) -> dict:
        return {src: {name: t.summary(threshold, min_score) for name, t in tallies.items()}
                for src, tallies in self.by_source.items()}

    def mean_curves(self) -> dict[str, list[float]]:
        """Held-out-fold metrics per epoch, averaged over the folds."""
        return {k: [round(float(v), 4) for v in np.mean(np.asarray(runs), axis=0)] for k, runs in self.curves.items()}

    def annotated(self) -> tuple[np.ndarray, np.ndarray]:
        """Out of fold at annotated boxes: verdicts (N,) 0/1/2 and softmax (N, 3)."""
        return np.concatenate(self.labels), np.concatenate(self.probs)

    def save(self, path: Path) -> None:
        """Every out-of-fold number, so calibrations and rules can be studied without retraining;
        each scene set's tallies too (`by_source/<set>/...`), so a rule can be studied per set."""
        arrays = _tally_arrays(self.tallies, self.folds)
        for src, tallies in self.by_source.items():
            arrays.update({f"by_source/{src}/{k}": v for k, v in _tally_arrays(tallies, self.folds).items()})
        labels, probs = self.annotated()
        np.savez_compressed(path, annotated_labels=labels, annotated_probs=probs, upscale=np.asarray(self.upscale),
                            folds=np.asarray(self.folds), **arrays)

    @classmethod
    def load(cls, path: Path, folds: int | None = None) -> CrossVal:
        """What `save` wrote, back as a CrossVal (its fold curves are not kept). `folds`: how many
        folds the numbers were cut in, for files that do not say (kept before 2026-12-03)."""
        data = np.load(path)
        if "folds" in data:
            folds = int(data["folds"])
        elif folds is None:
            raise ModelError(f"{path}: does not say how many folds it was cut in (kept before it did): give them")
        upscale = tuple(float(u) for u in data["upscale"]) if "upscale" in data else RULE_UPSCALE_BEFORE_RECORDED
        cv = cls(folds, labels=[data["annotated_labels"]], probs=[data["annotated_probs"]], upscale=upscale)
        _read_tallies(cv.tallies, data, "")
        sets = sorted({k.split("/")[1] for k in data if k.startswith("by_source/")})
        for src in sets:  # kept since 2026-12-07
            cv.by_source[src] = {n: Tally(*v) for n, v in RULE_BUCKETS.items()}
            _read_tallies(cv.by_source[src], data, f"by_source/{src}/")
        return cv

    def has_folds(self) -> bool:
        """Whether every detection knows its fold and width, and every fold its violations (files
        kept since 2026-12-03 do): what choosing a rule on some folds and scoring it on another needs."""
        return all(bool(t.fold) and min(t.fold) >= 0 and len(t.fold_violations) == self.folds
                   and not np.isnan(np.asarray(t.width, np.float64)).any() for t in self.tallies.values())

    def detections(self, min_score: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Out of fold, every face the pipeline found with a face score >= min_score (the faces
        the rule can call violations): raw p(violation) and whether it is one."""
        t = self.tallies["all"]
        keep = np.asarray(t.conf, np.float64) >= min_score
        return np.asarray(t.p_no_mask, np.float64)[keep], np.asarray(t.on_violation, bool)[keep]


COUNT_FIELDS = ("faces_gt", "faces_found", "violations_gt", "masks_gt")


def _tally_arrays(tallies: dict[str, Tally], folds: int) -> dict[str, np.ndarray]:
    """A bucket's tally as the arrays out_of_fold.npz holds, named `<bucket>/<field>`."""
    arrays = {}
    for name, t in tallies.items():
        arrays.update({f"{name}/{f}": np.asarray(getattr(t, f)) for f in (*DETECTION_FIELDS, *COUNT_FIELDS)})
        arrays.update({f"{name}/{f}": np.asarray(getattr(t, f), np.int64) for f in IMAGE_FIELDS})
        if t.fold_violations:
            arrays[f"{name}/fold_violations"] = np.asarray([t.fold_violations.get(k, 0)
                                                            for k in range(folds)])
    return arrays


def _read_tallies(tallies: dict[str, Tally], data, prefix: str) -> None:
    """What _tally_arrays wrote (under prefix), back into tallies; fields older files lack are unknown."""
    for name, t in tallies.items():
        for f in COUNT_FIELDS:
            setattr(t, f, int(data[f"{prefix}{name}/{f}"]))
        for f in DETECTION_FIELDS:
            if f"{prefix}{name}/{f}" in data:
                setattr(t, f, data[f"{prefix}{name}/{f}"].tolist())
            else:  # kept before widths and folds were: unknown
                setattr(t, f, [LEGACY_FILL[f]] * len(t.conf))
        if f"{prefix}{name}/fold_violations" in data:
            t.fold_violations = dict(enumerate(data[f"{prefix}{name}/fold_violations"].tolist()))
        for f in IMAGE_FIELDS:  # older files: unknown, so no interval over images
            if f"{prefix}{name}/{f}" in data:
                setattr(t, f, data[f"{prefix}{name}/{f}"].tolist())


def rule_detector(cv: CrossVal) -> dict:
    """metadata.json's `rule_detector`: the detector setting the rule was chosen with (ModelInfo.rule_upscale)."""
    return {"upscale": list(cv.upscale),
            "why": "the rule was chosen on the faces this detector setting finds; another finds other faces"}


def annotated_views(samples: Samples, size: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Plain (un-augmented) inputs for the faces at annotators' boxes, and their verdicts."""
    keep = samples.source == "scene"
    x = [plain_view(p, size, margin) for p in samples.patches[keep]]
    x = np.stack(x).astype(np.float32) if x else np.zeros((0, size, size, 3), np.float32)
    return x, samples.subset(keep).verdicts()


def softmax_rows(model, x: np.ndarray) -> np.ndarray:
    """The model's outputs for x, PREDICT_BATCH rows a call: one eager call over a whole fold's faces
    holds every layer's activations for all of them at once (about 28 MB a face at 128 px: a 2-fold
    run's 900 faces took 24 GB and the machine's memory)."""
    rows = [np.asarray(model(x[i:i + PREDICT_BATCH], training=False)).reshape(len(x[i:i + PREDICT_BATCH]), -1)
            for i in range(0, len(x), PREDICT_BATCH)]
    return np.concatenate(rows) if rows else np.zeros((0, len(CLASSES)), np.float32)


def cross_validate(pool: Samples, scenes: list[Scene], detector, folds: int, size: int, margin: float,
                   fit: Callable, keep: Callable | None = None, sources: dict[str, str] | None = None) -> CrossVal:
    """`fit(train_samples, (val_x, val_y))` -> (keras model, history) is called once per fold;
    `keep(k, model)`, where given, is handed each fold's model (to save it for the levers' study);
    `sources`: each scene's set by stem, to tally per set as well (None: one set)."""
    from maskwatch.models.evaluation.evaluate import tally_scenes

    cv = CrossVal(folds, upscale=detector.scales)
    fold = np.asarray([fold_of(str(stem), folds) if stem else -1 for stem in pool.scene])  # crops: -1
    for k in range(folds):
        held = [sc for sc in scenes if fold_of(sc.stem, folds) == k]
        if not held:
            continue
        val_x, val_y = annotated_views(pool.subset(fold == k), size, margin)
        model, history = fit(pool.subset(fold != k), (val_x, val_y))
        if keep is not None:
            keep(k, model)
        for key, values in history.items():
            if key.startswith("val_"):
                cv.curves.setdefault(key, []).append(values)
        cv.labels.append(val_y)
        cv.probs.append(softmax_rows(model, val_x))
        info = ModelInfo(Path("."), f"fold{k}", size, margin, 0.5, 0.0, "", "", {}, classes=tuple(CLASSES))
        pipe = MaskPipeline(detector, MaskClassifier(info, keras_model=model), threshold=0.5, min_face_score=0.0)
        by_set: dict[str, list[Scene]] = {}
        for sc in held:
            by_set.setdefault((sources or {}).get(sc.stem, "scenes"), []).append(sc)
        for src, part in sorted(by_set.items()):
            mine = cv.by_source.setdefault(src, {n: Tally(*v) for n, v in RULE_BUCKETS.items()})
            for name, t in tally_scenes(pipe, part, RULE_BUCKETS).items():
                cv.tallies[name].extend(t, fold=k)
                mine[name].extend(t, fold=k)
        log.info("fold %d/%d: %d held-out scenes, %d violations so far", k + 1, folds, len(held),
                 cv.tallies["all"].violations_gt)
    return cv
