"""Person-level scoring of violations against a clip's ground truth (maskwatch.models.evaluation.clips, or
real footage: maskwatch.models.evaluation.videotruth): pure.

A violation is matched to the person whose box overlaps its evidence box best, at IoU >= 0.3 (the
same IoU as shared/tools/score.py), at frames within `slack_s` of the evidence's capture time (the
snapshot's; without it, anywhere between first and last seen). Per clip and overall:

- recall: violators with at least one violation / violators;
- precision: violators reported / (violators reported + violations matching no violator);
- duplicates: violations beyond a violator's first, as a share of violators;
- false: violations on no violator: on a person who was masked (`on_masked`), or on no one;
- optional: violations on an unmasked person who need not be found (real footage: seen too briefly
  or never well enough to tell), counted apart, neither found nor false.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from maskwatch.geometry import iou_matrix

IOU = 0.3
COUNTS = ("violators", "violations", "found", "false", "on_masked", "optional", "duplicates")  # Score's sums


@dataclass(frozen=True)
class Reported:
    first_s: float  # seconds into the clip
    last_s: float
    box: tuple[float, float, float, float]
    evidence_s: float | None = None  # when the evidence box was seen: matched at that moment only
    evidence_frame: str | None = None  # the stored evidence frame (a snapshot file), where there is one


@dataclass
class Score:
    violators: int = 0
    found: int = 0        # violators with a violation
    false: int = 0        # violations matching no violator
    on_masked: int = 0    # ... of which on a person who wore a mask
    optional: int = 0     # violations on people who need not be found (seen too briefly): neither
    duplicates: int = 0
    violations: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, other: Score) -> None:
        for k in COUNTS:
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.misses += other.misses

    @property
    def recall(self) -> float:
        return self.found / self.violators if self.violators else 1.0

    @property
    def precision(self) -> float:
        return self.found / (self.found + self.false) if self.found + self.false else 1.0

    @property
    def duplicate_rate(self) -> float:
        return self.duplicates / self.violators if self.violators else 0.0

    def row(self) -> dict:
        return {"violators": self.violators, "violations": self.violations, "found": self.found,
                "false": self.false, "on_masked": self.on_masked, "optional": self.optional,
                "duplicates": self.duplicates, "recall": round(self.recall, 3), "precision": round(self.precision, 3),
                "duplicate_rate": round(self.duplicate_rate, 3)}


def match(truth: dict, v: Reported, slack_s: float = 1.0) -> str | None:
    """The person a violation is about: the best face-box IoU (boxes of faces, the person clips), or,
    where the truth boxes whole people (real footage, MOTChallenge), the person whose head is nearest
    the face among those whose box's upper half holds its centre (`holding`), each person where they
    were nearest the evidence's moment (not anywhere within the slack: on a moving camera a second
    moves everyone, and a face would be given to whoever stood there a second before)."""
    fps = truth["fps"]
    lo, hi = (v.first_s, v.last_s) if v.evidence_s is None else (v.evidence_s, v.evidence_s)
    near = {p["id"]: [(frame, box) for frame, *box in p["boxes"] if lo - slack_s <= frame / fps <= hi + slack_s]
            for p in truth["persons"]}
    people = truth.get("boxes_are", "face") == "person"
    if people and v.evidence_s is not None:
        near = {pid: [min(rows, key=lambda r: abs(r[0] / fps - v.evidence_s))] for pid, rows in near.items() if rows}
    near = {pid: [box for _, box in rows] for pid, rows in near.items()}
    if people:
        return holding(v.box, near)
    best, best_iou = None, IOU
    for pid, boxes in near.items():
        if boxes:
            o = float(iou_matrix([v.box], boxes).max())
            if o >= best_iou:
                best, best_iou = pid, o
    return best


HEAD = 0.08  # a standing person's head centre: this share of their box's height below its top


def holding(face, near: dict[str, list]) -> str | None:
    """Whose head a face is: among the people whose box's upper half holds its centre, the one whose
    head (the top centre of their box) is nearest, in their widths. In a crowd the boxes overlap,
    and a face at one box's edge is the head of the person beside (seen on MOT16-11's evidence
    frames); the smallest box, the rule before, gave it to whoever stood nearer the camera."""
    cx, cy = (face[0] + face[2]) / 2, (face[1] + face[3]) / 2
    held = [(math.hypot(cx - (x1 + x2) / 2, cy - (y1 + HEAD * (y2 - y1))) / max(x2 - x1, 1.0), pid)
            for pid, boxes in near.items() for x1, y1, x2, y2 in boxes
            if x1 <= cx <= x2 and y1 <= cy <= y1 + (y2 - y1) / 2]
    return min(held)[1] if held else None


def score(truth: dict, reported: list[Reported]) -> Score:
    violators = {p["id"] for p in truth["persons"] if p["violator"]}
    masked = {p["id"] for p in truth["persons"] if p.get("masked", not p["violator"])}
    optional = {p["id"] for p in truth["persons"] if p.get("optional")}
    hits: dict[str, int] = {}
    out = Score(violators=len(violators), violations=len(reported))
    for v in reported:
        who = match(truth, v)
        if who in violators:
            hits[who] = hits.get(who, 0) + 1
        elif who in optional:
            out.optional += 1
        else:
            out.false += 1
            out.on_masked += who in masked
    out.found = len(hits)
    out.duplicates = sum(n - 1 for n in hits.values())
    out.misses = sorted(violators - set(hits))
    return out
