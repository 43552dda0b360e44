"""Snapshot images: the full frame with the violating face boxed (other faces blurred if asked)."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from maskwatch.annotate import blur_box, draw
from maskwatch.config import SnapshotConfig
from maskwatch.detections import Detections
from maskwatch.geometry import Box
from maskwatch.workers.track import Sighting


@dataclass(frozen=True, slots=True)
class FrameInfo:
    """What a snapshot needs from a sighting's message besides its crop and frame bytes."""
    width: int
    height: int
    model_version: str
    boxes: tuple[Box, ...]  # every face of the frame, for blurring the others


def render_frame(s: Sighting, info: FrameInfo, snap: SnapshotConfig) -> bytes | None:
    """The full frame with the violating face boxed in red (others blurred if configured)."""
    img = cv2.imdecode(np.frombuffer(s.frame, np.uint8), cv2.IMREAD_COLOR) if s.frame else None
    if img is None:
        return None
    if snap.blur_faces:
        for i, box in enumerate(info.boxes):
            if i != s.face:
                blur_box(img, box)
    det = Detections(np.array([s.box]), np.array([s.score]), np.array([s.p_no_mask]))
    ok, buf = cv2.imencode(".jpg", draw(img, det, s.threshold, s.min_score),
                           [cv2.IMWRITE_JPEG_QUALITY, snap.jpeg_quality])
    return buf.tobytes() if ok else None
