"""The one decision rule: when a classified face is a violation, and which violation it is.

Every stage asks this object (the worker's detections, the tracker's vote, the drawn frames, the
stored verdict, the metrics), so that "no mask" means one thing everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass

# a violation is mask_incorrect when at least this share of its probability says so
INCORRECT_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class Rule:
    """A face is a violation when p(violation) >= threshold on a face whose detector score is at
    least min_score (below it the face is too doubtful to count: "unsure")."""
    threshold: float
    min_score: float = 0.0

    def violates(self, p_no_mask, score):
        """Floats or numpy arrays alike (element-wise)."""
        return (p_no_mask >= self.threshold) & (score >= self.min_score)

    def looks_unmasked(self, p_no_mask) -> bool:
        """What the classifier says, before the face's score is asked."""
        return p_no_mask >= self.threshold

    def unsure(self, p_no_mask, score) -> bool:
        """No mask by the classifier, on a face too doubtful to count."""
        return bool(self.looks_unmasked(p_no_mask) and not self.violates(p_no_mask, score))

    @staticmethod
    def verdict(is_violation: bool, p_incorrect: float) -> str:
        return verdict(is_violation, p_incorrect)


def verdict(is_violation: bool, p_incorrect: float) -> str:
    """One face's verdict: "mask" for anything not a violation; a violation is "mask_incorrect" when
    p_incorrect >= INCORRECT_SHARE, else "no_mask" (always, for a two-class model)."""
    if not is_violation:
        return "mask"
    return "mask_incorrect" if p_incorrect >= INCORRECT_SHARE else "no_mask"
