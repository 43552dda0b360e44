"""Region of interest: faces whose centre lies outside a camera's polygon are ignored."""
from __future__ import annotations

import cv2
import numpy as np

from maskwatch.detections import Detections


def inside(det: Detections, roi: list[tuple[float, float]] | None, width: int, height: int) -> Detections:
    if not roi or not len(det):
        return det
    poly = (np.asarray(roi, np.float32) * np.float32([width, height])).reshape(-1, 1, 2)
    centres = (det.boxes[:, :2] + det.boxes[:, 2:]) / 2
    keep = np.array([cv2.pointPolygonTest(poly, (float(x), float(y)), False) >= 0 for x, y in centres])
    return det.subset(keep)
