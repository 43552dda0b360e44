"""Detection-quality metrics, defined exactly as the project's scoring tool defines them.

A detection matches a ground-truth face at IoU >= 0.3 (greedy, highest face score first).
Violations are ground-truth `without_mask` and `mask_weared_incorrect`. A size bucket ignores
ground truth outside its width range, detections matched to those faces, and unmatched detections
whose width is outside the range (COCO-style "ignore"). AP is VOC all-point AP over detections ranked by
p_no_mask * score (violations) or (1 - p_no_mask) * score (masks).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from maskwatch.geometry import iou_matrix

MATCH_IOU = 0.3
P_GRID = tuple(np.linspace(0.3, 0.98, 35))       # candidate p(no_mask) thresholds
SCORE_GRID = tuple(np.linspace(0.3, 0.9, 25))    # candidate minimum face scores
CI_LEVEL = 0.95           # intervals over images (f1_interval, f1_gain_interval)
# the held-out split's 2.5% tails move about a point of F1 between seeds at this many draws, a tenth of
# the interval's width; a report keeps seed 0, so it repeats
BOOTSTRAP_ROUNDS = 2000


# what a Tally keeps per detection, in this order
DETECTION_FIELDS = ("conf", "p_no_mask", "on_violation", "on_mask", "width", "fold")
# each detection's image and each image's violators (pooling renumbers the images, so apart)
IMAGE_FIELDS = ("image", "image_violations")


@dataclass
class Tally:
    """Per-detection outcomes over many images, for one size bucket."""
    min_width: float = 0.0
    max_width: float = float("inf")
    faces_gt: int = 0
    faces_found: int = 0
    violations_gt: int = 0
    masks_gt: int = 0
    conf: list = field(default_factory=list)       # face score per kept detection
    p_no_mask: list = field(default_factory=list)
    on_violation: list = field(default_factory=list)  # matched to a violation face
    on_mask: list = field(default_factory=list)       # matched to a masked face
    width: list = field(default_factory=list)   # the detection's box width, px (what serving knows of size)
    fold: list = field(default_factory=list)    # cross-validation fold of its image; -1 outside one
    fold_violations: dict = field(default_factory=dict)  # fold -> its violations_gt (pooled by extend)
    # which image (one `add` each) each detection came from, and each image's violations_gt: what a
    # bootstrap over images needs (out_of_fold.npz files kept before 2026-12-06 do not say)
    image: list = field(default_factory=list)
    image_violations: list = field(default_factory=list)

    def add(self, boxes, scores, p_no_mask, gt_boxes, gt_violation) -> None:
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        gt_boxes = np.asarray(gt_boxes, np.float32).reshape(-1, 4)
        gt_violation = np.asarray(gt_violation, bool)
        match = greedy_match(boxes, np.asarray(scores, np.float32), gt_boxes)
        gt_w = gt_boxes[:, 2] - gt_boxes[:, 0]
        keep_gt = (gt_w >= self.min_width) & (gt_w < self.max_width)
        self.faces_gt += int(keep_gt.sum())
        self.violations_gt += int((keep_gt & gt_violation).sum())
        self.image_violations.append(int((keep_gt & gt_violation).sum()))
        self.masks_gt += int((keep_gt & ~gt_violation).sum())
        for i, j in enumerate(match):
            if j >= 0 and not keep_gt[j]:
                continue
            if j < 0 and not self.min_width <= boxes[i, 2] - boxes[i, 0] < self.max_width:
                continue
            self.faces_found += j >= 0
            self.conf.append(float(scores[i]))
            self.p_no_mask.append(float(p_no_mask[i]))
            self.on_violation.append(j >= 0 and bool(gt_violation[j]))
            self.on_mask.append(j >= 0 and not gt_violation[j])
            self.width.append(float(boxes[i, 2] - boxes[i, 0]))
            self.fold.append(-1)
            self.image.append(len(self.image_violations) - 1)

    def extend(self, other: Tally, fold: int | None = None) -> None:
        """Pool another tally of the same bucket into this one (cross-validation folds); `fold`,
        where given, marks its detections as that fold's (a rule can then be chosen on the other
        folds and scored on this one)."""
        for f in ("faces_gt", "faces_found", "violations_gt", "masks_gt"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        for f in DETECTION_FIELDS:
            getattr(self, f).extend(getattr(other, f))
        self.image.extend(i + len(self.image_violations) for i in other.image)
        self.image_violations.extend(other.image_violations)
        if fold is not None:
            self.fold[len(self.fold) - len(other.fold):] = [fold] * len(other.fold)
            self.fold_violations[fold] = self.fold_violations.get(fold, 0) + other.violations_gt

    def violation_counts(self, threshold: float, min_score: float = 0.0) -> tuple[int, int, int]:
        flagged = (np.asarray(self.p_no_mask) >= threshold) & (np.asarray(self.conf) >= min_score)
        hit = np.asarray(self.on_violation, bool)
        tp = int((flagged & hit).sum())
        return tp, int((flagged & ~hit).sum()), self.violations_gt - tp

    def knows_images(self) -> bool:
        """Whether each detection's image is known (not in a tally loaded from an older file)."""
        return len(self.image) == len(self.conf) and bool(self.image_violations)

    def image_counts(self, threshold: float, min_score: float = 0.0) -> np.ndarray:
        """(images, 3): each image's true and false violations and missed violators at the rule."""
        if not self.knows_images():
            raise ValueError("this tally does not know which image each detection came from "
                             "(one loaded from a file, or built without Tally.add): no interval over images")
        flagged = (np.asarray(self.p_no_mask) >= threshold) & (np.asarray(self.conf) >= min_score)
        hit = np.asarray(self.on_violation, bool)
        n = len(self.image_violations)
        image = np.asarray(self.image, np.int64)
        tp = np.bincount(image, weights=flagged & hit, minlength=n)
        fp = np.bincount(image, weights=flagged & ~hit, minlength=n)
        return np.stack([tp, fp, np.asarray(self.image_violations) - tp], axis=1).astype(np.int64)

    def f1(self, threshold: float, min_score: float = 0.0) -> tuple[float, float, float]:
        tp, fp, fn = self.violation_counts(threshold, min_score)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        return prec, rec, (2 * prec * rec / (prec + rec) if prec + rec else 0.0)

    def summary(self, threshold: float, min_score: float = 0.0) -> dict:
        prec, rec, f1 = self.f1(threshold, min_score)
        conf, p = np.asarray(self.conf), np.asarray(self.p_no_mask)
        out = {
            "faces_gt": self.faces_gt,
            "face_recall": round(self.faces_found / self.faces_gt, 3) if self.faces_gt else 0.0,
            "violations_gt": self.violations_gt,
            "violation_precision": round(prec, 3),
            "violation_recall": round(rec, 3),
            "violation_f1": round(f1, 3),
            "violation_ap": round(average_precision(conf * p, self.on_violation, self.violations_gt), 3),
            "mask_ap": round(average_precision(conf * (1 - p), self.on_mask, self.masks_gt), 3),
        }
        if self.knows_images():
            out["violation_f1_ci"] = [round(v, 3) for v in f1_interval(self.image_counts(threshold, min_score))]
        return out

    def pr_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """Violation precision and recall as the ranking threshold falls."""
        rank = np.asarray(self.conf) * np.asarray(self.p_no_mask)
        hit = np.asarray(self.on_violation, bool)[np.argsort(-rank, kind="stable")]
        tp, fp = np.cumsum(hit), np.cumsum(~hit)
        return tp / np.maximum(tp + fp, 1), tp / max(self.violations_gt, 1)


def f1_of(counts: np.ndarray) -> np.ndarray:
    """Violation F1 of (..., 3) summed true violations, false violations and missed violators."""
    tp, fp, fn = (np.asarray(counts, np.float64)[..., k] for k in range(3))
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros_like(denom), where=denom > 0)


def _resampled(n_images: int, rounds: int, seed: int) -> np.ndarray:
    """`rounds` draws of n_images image indices with replacement; a fixed seed, so a report repeats."""
    return np.random.default_rng(seed).integers(0, n_images, (rounds, n_images))


def _central(values: np.ndarray, level: float) -> tuple[float, float]:
    """The central `level` share of the draws (percentile interval)."""
    tail = (1 - level) / 2
    return float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail))


def f1_interval(counts: np.ndarray, level: float = CI_LEVEL, rounds: int = BOOTSTRAP_ROUNDS,
                seed: int = 0) -> tuple[float, float]:
    """The `level` interval of violation F1 over images drawn again with replacement (percentile
    bootstrap): how far another set of images like these could move the number. Images, not faces,
    are drawn, since one crowd's faces share their light, size and annotator."""
    return _central(f1_of(np.asarray(counts)[_resampled(len(counts), rounds, seed)].sum(axis=1)), level)


def f1_gain_interval(old: np.ndarray, new: np.ndarray, level: float = CI_LEVEL, rounds: int = BOOTSTRAP_ROUNDS,
                     seed: int = 0) -> tuple[float, float]:
    """The `level` interval of F1(new) - F1(old) on the same images, both drawn together (paired):
    a gain whose interval holds 0 is one these images cannot tell from chance."""
    old, new = np.asarray(old), np.asarray(new)
    if old.shape != new.shape:
        raise ValueError(f"a paired interval needs both models' counts on the same images: {old.shape} and {new.shape}")
    draw = _resampled(len(old), rounds, seed)
    return _central(f1_of(new[draw].sum(axis=1)) - f1_of(old[draw].sum(axis=1)), level)


def best_rule(tallies: list[Tally], p_grid=P_GRID, score_grid=SCORE_GRID) -> tuple[float, float]:
    """(p_no_mask threshold, minimum face score) with the best mean violation F1 over `tallies`
    (e.g. all faces and faces >= 24 px); ties favour the middle of the p range and the lower
    score (more recall on unseen scenes)."""
    rules = [(float(t), float(s)) for t in p_grid for s in score_grid]
    return max(rules, key=lambda r: (round(float(np.mean([t.f1(*r)[2] for t in tallies])), 4),
                                     -abs(r[0] - 0.5), -r[1]))


def greedy_match(boxes: np.ndarray, scores: np.ndarray, gt_boxes: np.ndarray) -> np.ndarray:
    """For each detection the index of its ground-truth face, or -1."""
    match = np.full(len(boxes), -1, np.int64)
    if not len(boxes) or not len(gt_boxes):
        return match
    ious = iou_matrix(boxes, gt_boxes)
    taken = np.zeros(len(gt_boxes), bool)
    for i in np.argsort(-scores, kind="stable"):
        cand = np.where(taken, -1.0, ious[i])
        j = int(np.argmax(cand))
        if cand[j] >= MATCH_IOU:
            match[i], taken[j] = j, True
    return match


def average_precision(confidence, is_hit, n_pos: int) -> float:
    """VOC all-point AP: area under the precision envelope, recall over n_pos positives."""
    confidence = np.asarray(confidence, np.float64)
    if not n_pos or not len(confidence):
        return 0.0
    hit = np.asarray(is_hit, bool)[np.argsort(-confidence, kind="stable")]
    tp, fp = np.cumsum(hit), np.cumsum(~hit)
    recall, precision = tp / n_pos, tp / (tp + fp)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum(np.diff(np.concatenate([[0.0], recall])) * envelope))
