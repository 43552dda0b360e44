"""Draw classified faces on a frame: red for no mask, green for mask (BGR images, OpenCV only)."""
from __future__ import annotations

import cv2
import numpy as np

from maskwatch.detections import Detections
from maskwatch.rule import Rule, verdict

RED, GREEN, GREY = (40, 40, 230), (60, 180, 60), (140, 140, 140)
COLORS = {"violation": RED, "mask": GREEN, "unsure": GREY, "face": GREEN}


def label(p_no_mask: float, threshold: float, incorrect: bool = False) -> str:
    """The verdict with its own probability: "mask 0.97", "no mask 0.99" or "mask worn wrong 0.99"
    (a three-verdict model's mask_incorrect), never the word of one verdict beside the other's
    probability ("mask 0.03" read as 3% masked)."""
    if not np.isfinite(p_no_mask):
        return "face"
    if not Rule(threshold).looks_unmasked(p_no_mask):
        return f"mask {1.0 - p_no_mask:.2f}"
    return f"{'mask worn wrong' if incorrect else 'no mask'} {p_no_mask:.2f}"


def incorrect_flags(det: Detections) -> list[bool]:
    """Per face: is its violation probability mostly "worn incorrectly" (maskwatch.detections.verdict)?"""
    if det.p_no_mask is None or det.p_incorrect is None:
        return [False] * len(det)
    return [verdict(True, float(q)) == "mask_incorrect" for q in det.p_incorrect]


def verdicts(det: Detections, threshold: float, min_score: float = 0.0) -> list[str]:
    """Each face's colour class: "violation" (red), "mask" (green), "unsure" (grey: no mask on a
    face too doubtful to count) or "face" (not classified). The one rule draw and the live views use."""
    if det.p_no_mask is None:
        return ["face"] * len(det)
    rule = Rule(threshold, min_score)
    return ["face" if not np.isfinite(p) else "violation" if rule.violates(p, s) else "unsure" if rule.unsure(p, s)
            else "mask" for p, s in zip(det.p_no_mask, det.scores)]


def draw(image: np.ndarray, det: Detections, threshold: float, min_score: float = 0.0,
         thickness: int | None = None) -> np.ndarray:
    """A copy of `image` with each face boxed and labelled with its verdict: red for a violation,
    green for a mask, grey for "no mask" on a face too unsure to count (below min_score)."""
    out = image.copy()
    t = thickness or max(1, round(max(image.shape[:2]) / 500))
    scale = max(0.35, max(image.shape[:2]) / 1600)
    probs = det.p_no_mask if det.p_no_mask is not None else [np.nan] * len(det)
    flags = incorrect_flags(det)
    for box, p, kind, wrong in zip(det.boxes, probs, verdicts(det, threshold, min_score), flags):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        color = COLORS[kind]
        cv2.rectangle(out, (x1, y1), (x2, y2), color, t, cv2.LINE_AA)
        text = label(p, threshold, wrong)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = y1 - 3 if y1 - th - base - 3 >= 0 else y2 + th + 3
        cv2.rectangle(out, (x1, ty - th - 2), (x1 + tw + 2, ty + base - 1), color, cv2.FILLED)
        cv2.putText(out, text, (x1 + 1, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def blur_box(img: np.ndarray, box) -> None:
    """Blur a face in place (privacy: snapshots.blur_faces), so that no identity survives."""
    h, w = img.shape[:2]
    x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
    x2, y2 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return
    k = max(3, (x2 - x1) // 2 | 1)  # odd kernel, half a face wide
    img[y1:y2, x1:x2] = cv2.GaussianBlur(img[y1:y2, x1:x2], (k, k), 0)
