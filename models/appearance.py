"""A person's appearance for telling people apart: the classifier's face embedding and, optionally,
the colours of the torso below the face (clothing: at CCTV distance the strongest cue; on real
footage it separates people far better than the face alone, docs/real-footage.md).

The two are joined into one unit vector, [face, clothing] / sqrt(2), so the tracker and the identity
registry compare it as they compare the face embedding alone: its cosine is the mean of the two
cosines. A face whose torso is out of the frame keeps a zero clothing part.
"""
from __future__ import annotations

import cv2
import numpy as np

from maskwatch.detections import Detections

HUE_BINS, SAT_BINS = 16, 4
CLOTHING_DIM = HUE_BINS * SAT_BINS


def clothing(img: np.ndarray, box) -> np.ndarray | None:
    """A unit vector of the torso's colours below a face box: the square-rooted hue x saturation
    histogram of a region three faces wide and three tall, half a face below the chin (the cosine
    of two is their Bhattacharyya coefficient). None where the torso is out of the frame."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    cx = (x1 + x2) / 2
    top, bottom = int(y2 + 0.5 * h), int(y2 + 3.5 * h)
    left, right = int(cx - 1.5 * w), int(cx + 1.5 * w)
    part = img[max(0, top):min(img.shape[0], bottom), max(0, left):min(img.shape[1], right)]
    if part.shape[0] < 4 or part.shape[1] < 4:
        return None
    hsv = cv2.cvtColor(part, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [HUE_BINS, SAT_BINS], [0, 180, 0, 256]).ravel()
    v = np.sqrt(hist / max(float(hist.sum()), 1e-9))
    return (v / max(float(np.linalg.norm(v)), 1e-9)).astype(np.float32)


def joined(face: np.ndarray, body: np.ndarray) -> np.ndarray:
    """[face, clothing] as one unit vector: two unit halves weigh alike in its cosine; a torso out of
    the frame (zeros) leaves the face alone."""
    v = np.concatenate([face, body])
    return v / max(float(np.linalg.norm(v)), 1e-9)


def with_clothing(img: np.ndarray, det: Detections) -> Detections:
    """The faces of one frame with [face, clothing] / sqrt(2) as their embeddings; a face without an
    embedding (not classified: a zero row) keeps none."""
    if det.embeddings is None or not len(det):
        return det
    out = np.zeros((len(det), det.embeddings.shape[1] + CLOTHING_DIM), np.float32)
    for i, (box, face) in enumerate(zip(det.boxes, det.embeddings)):
        if not face.any():
            continue
        body = clothing(img, box)
        out[i] = joined(face, body if body is not None else np.zeros(CLOTHING_DIM, np.float32))
    return Detections(det.boxes, det.scores, det.p_no_mask, out, det.p_incorrect)
