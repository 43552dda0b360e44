"""The typed value passed between model stages: faces found in one image.

Boxes are float pixel coordinates [x1, y1, x2, y2] of the image they were found in.
`p_no_mask` is None until the classifier has run. `embeddings` (N, D) are the classifier's
appearance descriptors (unit vectors; a zero row for a face that was not classified), or None for a
model without one.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from maskwatch.geometry import widths
from maskwatch.rule import Rule, verdict

LABELS = ("mask", "no_mask")  # `label` in detect --json: a violation or not (its contract)
VERDICTS = ("mask", "no_mask", "mask_incorrect")  # what a violation is: no mask, or worn under the nose


@dataclass(frozen=True)
class Detections:
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    p_no_mask: np.ndarray | None = None
    embeddings: np.ndarray | None = None
    p_incorrect: np.ndarray | None = None  # a three-verdict model's share of p_no_mask that is mask_incorrect

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        scores = np.asarray(self.scores, np.float32).reshape(-1)
        if len(boxes) != len(scores):
            raise ValueError(f"Detections: {len(boxes)} boxes but {len(scores)} scores")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        if self.p_no_mask is not None:
            p = np.asarray(self.p_no_mask, np.float32).reshape(-1)
            if len(p) != len(boxes):
                raise ValueError(f"Detections: {len(boxes)} boxes but {len(p)} p_no_mask values")
            object.__setattr__(self, "p_no_mask", p)
        if self.p_incorrect is not None:
            q = np.asarray(self.p_incorrect, np.float32).reshape(-1)
            if len(q) != len(boxes):
                raise ValueError(f"Detections: {len(boxes)} boxes but {len(q)} p_incorrect values")
            object.__setattr__(self, "p_incorrect", q)
        if self.embeddings is not None:
            e = np.asarray(self.embeddings, np.float32)
            if e.ndim != 2 or len(e) != len(boxes):
                raise ValueError(f"Detections: {len(boxes)} boxes but embeddings of shape {e.shape}")
            object.__setattr__(self, "embeddings", e)

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def widths(self) -> np.ndarray:
        return widths(self.boxes)

    def with_p_no_mask(self, p_no_mask: np.ndarray, embeddings: np.ndarray | None = None,
                       p_incorrect: np.ndarray | None = None) -> Detections:
        return Detections(self.boxes, self.scores, p_no_mask, embeddings, p_incorrect)

    def violations(self, threshold: float, min_score: float = 0.0) -> np.ndarray:
        """Each face: a violation by the rule (maskwatch.rule)?"""
        if self.p_no_mask is None:
            raise ValueError("Detections: not classified yet")
        return Rule(threshold, min_score).violates(self.p_no_mask, self.scores)

    def labels(self, threshold: float, min_score: float = 0.0) -> list[str]:
        return [LABELS[int(v)] for v in self.violations(threshold, min_score)]

    def verdicts(self, threshold: float, min_score: float = 0.0) -> list[str]:
        """The three-verdict rule: "mask" for anything not a violation; a violation is
        "mask_incorrect" when p_incorrect >= INCORRECT_SHARE, else "no_mask" (always, for a
        two-class model)."""
        share = self.p_incorrect if self.p_incorrect is not None else np.zeros(len(self), np.float32)
        return [verdict(bool(v), float(q)) for v, q in zip(self.violations(threshold, min_score), share)]

    def subset(self, keep: np.ndarray) -> Detections:
        p = None if self.p_no_mask is None else self.p_no_mask[keep]
        e = None if self.embeddings is None else self.embeddings[keep]
        q = None if self.p_incorrect is None else self.p_incorrect[keep]
        return Detections(self.boxes[keep], self.scores[keep], p, e, q)

    @staticmethod
    def concat(parts: list[Detections]) -> Detections:
        if not parts:
            return Detections()
        p = None
        if all(d.p_no_mask is not None for d in parts):
            p = np.concatenate([d.p_no_mask for d in parts])
        e = None
        if all(d.embeddings is not None for d in parts):
            e = np.concatenate([d.embeddings for d in parts])
        q = None
        if all(d.p_incorrect is not None for d in parts):
            q = np.concatenate([d.p_incorrect for d in parts])
        return Detections(np.concatenate([d.boxes for d in parts]),
                          np.concatenate([d.scores for d in parts]), p, e, q)

    def to_json_faces(self, threshold: float, min_score: float = 0.0) -> list[dict]:
        """Faces in the public `maskwatch detect --json` shape: `label` (mask / no_mask: a violation
        or not) and `p_no_mask` keep their meaning; `verdict` says which violation it is."""
        labels, kinds = self.labels(threshold, min_score), self.verdicts(threshold, min_score)
        return [
            {"box": [round(float(v), 1) for v in b], "score": round(float(s), 4),
             "label": lab, "p_no_mask": round(float(p), 4), "verdict": kind}
            for b, s, lab, p, kind in zip(self.boxes, self.scores, labels, self.p_no_mask, kinds)
        ]
