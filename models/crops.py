"""Face crops for the classifier: one function shared by training and inference.

A crop is the square around the face box, enlarged by `margin` of its longest side, resized to the
classifier's input. Parts of the square outside the image are filled by replicating the border,
so a face at the edge keeps its aspect ratio instead of being squashed.
"""
from __future__ import annotations

import cv2
import numpy as np


def square_region(box, margin: float) -> tuple[int, int, int, int]:
    """Integer square (x1, y1, x2, y2) centred on `box`, side = longest side * (1 + margin)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1, 1.0) * (1.0 + margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    sx1, sy1 = int(np.floor(cx - side / 2)), int(np.floor(cy - side / 2))
    s = max(1, int(round(side)))
    return sx1, sy1, sx1 + s, sy1 + s


def cut_square(image: np.ndarray, region: tuple[int, int, int, int]) -> np.ndarray:
    """Pixels of `region`, border-replicated where it leaves the image."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = region
    cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if cx2 <= cx1 or cy2 <= cy1:
        raise ValueError(f"crop region {region} lies outside the {w}x{h} image")
    patch = image[cy1:cy2, cx1:cx2]
    pads = (cy1 - y1, y2 - cy2, cx1 - x1, x2 - cx2)
    if any(pads):
        patch = cv2.copyMakeBorder(patch, *pads, cv2.BORDER_REPLICATE)
    return patch


def crop_face(image: np.ndarray, box, size: int, margin: float) -> np.ndarray:
    """RGB uint8 size x size crop of one face from a BGR image."""
    patch = cut_square(image, square_region(box, margin))
    interp = cv2.INTER_AREA if patch.shape[0] > size else cv2.INTER_LINEAR
    patch = cv2.resize(patch, (size, size), interpolation=interp)
    return cv2.cvtColor(patch, cv2.COLOR_BGR2RGB)


def crop_faces(image: np.ndarray, boxes: np.ndarray, size: int, margin: float) -> np.ndarray:
    """All faces of one image as an (N, size, size, 3) uint8 RGB batch."""
    if len(boxes) == 0:
        return np.zeros((0, size, size, 3), np.uint8)
    return np.stack([crop_face(image, b, size, margin) for b in boxes])
