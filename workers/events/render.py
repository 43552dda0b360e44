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


def others(s: Sighting) -> tuple[Box, ...]:
    """Every face of the sighting's frame but its own: the ones blurred when snapshots.blur_faces asks."""
    return tuple(box for i, box in enumerate(s.info.boxes) if i != s.face)


def render_frame(s: Sighting, snap: SnapshotConfig) -> bytes | None:
    """The sighting's own frame, its other faces blurred when configured (None: it has none)."""
    return render_evidence(s.frame, s.box, s.score, s.p_no_mask, s.p_incorrect,
                           list(others(s)) if snap.blur_faces else [], snap.jpeg_quality)


def render_evidence(jpeg: bytes | None, box: Box, score: float, p_no_mask: float, p_incorrect: float,
                    blur: list[Box], quality: int) -> bytes | None:
    """A violation's evidence frame: the violating face boxed in red with its verdict, the faces in
    `blur` blurred. Whether the frame came with the detections or later from ingest (whose still
    arrives with the other faces already blurred), one drawing: always a violation, as it was judged."""
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR) if jpeg else None
    if img is None:
        return None
    for other in blur:
        blur_box(img, other)
    det = Detections(np.array([box]), np.array([score]), np.array([p_no_mask]), p_incorrect=np.array([p_incorrect]))
    ok, buf = cv2.imencode(".jpg", draw(img, det, threshold=0.0), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes() if ok else None
