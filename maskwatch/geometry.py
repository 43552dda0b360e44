"""The one box geometry of the project: boxes are [x1, y1, x2, y2] in pixels of the image they
were found in. IoU (one pair, or every pair of two sets), clamping to an image, widths, and boxes
moved with a camera (a 2x3 similarity transform from one frame's pixels to the next's)."""
from __future__ import annotations

import numpy as np

Box = tuple[float, float, float, float]


def iou(a, b) -> float:
    """IoU of two boxes: the tracker's per-pair test, without building arrays."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N, 4) and (M, 4) boxes."""
    a, b = np.asarray(a, np.float32).reshape(-1, 4), np.asarray(b, np.float32).reshape(-1, 4)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def clamp(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, 4) boxes clipped to a width x height image, in place (and returned)."""
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    return boxes


def clamp_box(box, width: int, height: int) -> Box:
    """A box inside its frame: a face at the edge keeps what is in view, and absurd coordinates
    cannot overflow anything downstream (they are still somebody's face)."""
    x1, y1, x2, y2 = (min(max(float(v), 0.0), float(lim)) for v, lim in zip(box, (width, height, width, height)))
    return x1, y1, max(x2, min(x1 + 1.0, width)), max(y2, min(y1 + 1.0, height))


def widths(boxes: np.ndarray) -> np.ndarray:
    """(N,) widths of (N, 4) boxes: what face-size buckets measure."""
    return boxes[:, 2] - boxes[:, 0]


def box_width(box) -> int:
    """One face's width in whole pixels from [x1, y1, x2, y2] off the wire or a row; 0 for a
    malformed box."""
    try:
        return max(0, round(float(box[2]) - float(box[0])))
    except (TypeError, ValueError, IndexError):
        return 0


def moved_point(m, x: float, y: float) -> tuple[float, float]:
    """A point under a 2x3 transform `m` (nested sequences or an array)."""
    return (m[0][0] * x + m[0][1] * y + m[0][2], m[1][0] * x + m[1][1] * y + m[1][2])


def moved_box(m, box) -> Box:
    """A box under a 2x3 similarity transform: its corners mapped, kept axis-aligned."""
    (a, b), (c, d) = moved_point(m, box[0], box[1]), moved_point(m, box[2], box[3])
    return min(a, c), min(b, d), max(a, c), max(b, d)


def then(a, b) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """The 2x3 transform that applies `a`, then `b`."""
    tx, ty = moved_point(b, a[0][2], a[1][2])
    return ((b[0][0] * a[0][0] + b[0][1] * a[1][0], b[0][0] * a[0][1] + b[0][1] * a[1][1], tx),
            (b[1][0] * a[0][0] + b[1][1] * a[1][0], b[1][0] * a[0][1] + b[1][1] * a[1][1], ty))


def inverse(m) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """The 2x3 transform that undoes `m` (which must not squash the plane flat)."""
    a, b, c, d = m[0][0], m[0][1], m[1][0], m[1][1]
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    return ((ia, ib, -(ia * m[0][2] + ib * m[1][2])), (ic, id_, -(ic * m[0][2] + id_ * m[1][2])))
