"""Value checks on a decoded detections message, so nothing later trips on them."""
from __future__ import annotations

import math
import re
import time

from maskwatch.config import CAMERA_ID
from maskwatch.wire import WireError
from maskwatch.wire.detections import DetectionMsg
from maskwatch.wire.frames import MAX_PIXELS, MAX_SIDE
from maskwatch.wire.jpeg import is_jpeg, jpeg_size

_CAMERA = re.compile(CAMERA_ID)


def check(m: DetectionMsg) -> None:
    """decode() checks that fields exist; this checks their values."""
    if not isinstance(m.camera, str) or not _CAMERA.match(m.camera):
        raise WireError("detections: bad camera id")
    numbers = [m.captured_at, m.threshold, m.min_face_score] + [
        v for f in m.faces for v in (*f.box, f.score, f.p_no_mask)]
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in numbers):
        raise WireError("detections: a number is missing or not finite")
    if not 0 < m.captured_at < time.time() + 86_400:
        raise WireError("detections: capture time is not a plausible epoch")
    if any(len(f.box) != 4 for f in m.faces):
        raise WireError("detections: a box is not [x1, y1, x2, y2]")
    if not (isinstance(m.width, int) and isinstance(m.height, int) and 0 < m.width <= MAX_SIDE
            and 0 < m.height <= MAX_SIDE and m.width * m.height <= MAX_PIXELS):
        raise WireError("detections: bad frame size")
    if any(f.box[2] <= f.box[0] or f.box[3] <= f.box[1] for f in m.faces if len(f.box) == 4):
        raise WireError("detections: a box is empty or inverted")
    if not isinstance(m.model_version, str):
        raise WireError("detections: bad model_version")
    if not all(is_jpeg(c) for c in m.crops if c) or (m.frame_jpeg is not None and not is_jpeg(m.frame_jpeg)):
        raise WireError("detections: a crop or the frame is not a JPEG")  # it would be stored as evidence
    if m.frame_jpeg is not None and jpeg_size(m.frame_jpeg) != (m.width, m.height):
        raise WireError("detections: the frame is not of the declared size")  # decoded for the snapshot
    dims = {len(e) for e in m.embeddings if e is not None}
    if len(dims) > 1:
        raise WireError("detections: embeddings of different sizes in one message")
