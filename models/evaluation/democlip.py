"""A synthetic camera clip built from CC0 scene photos, for `make demo` and the pipeline tests.

Each photo is shown for a few seconds on a 16:9 canvas with a slow drift, so faces move a little
from frame to frame the way people do in front of a fixed camera, and the tracker has work to do.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def scene_frames(image: np.ndarray, seconds: float, fps: int, size=(960, 540), drift_px: float = 24.0):
    """Frames of one photo, fitted into `size` and drifting horizontally by up to drift_px."""
    w, h = size
    s = min(w / image.shape[1], h / image.shape[0]) * 0.92
    scaled = cv2.resize(image, (round(image.shape[1] * s), round(image.shape[0] * s)), interpolation=cv2.INTER_AREA)
    n = max(1, round(seconds * fps))
    drift_px = min(drift_px, (w - scaled.shape[1]) // 2)  # the photo never leaves the canvas
    for i in range(n):
        canvas = np.full((h, w, 3), 40, np.uint8)
        dx = int(round(drift_px * np.sin(2 * np.pi * i / n)))
        x0 = (w - scaled.shape[1]) // 2 + dx
        y0 = (h - scaled.shape[0]) // 2
        canvas[y0:y0 + scaled.shape[0], x0:x0 + scaled.shape[1]] = scaled
        yield canvas


def build_clip(images: list[Path], out: Path, fps: int = 10, seconds_per_scene: float = 4.0,
               size=(960, 540)) -> Path:
    """An MJPEG AVI (readable by every OpenCV build) of the given photos, in order."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    if not writer.isOpened():
        raise OSError(f"cannot write video {out}")
    try:
        for path in images:
            img = cv2.imread(str(path))
            if img is None:
                raise ValueError(f"{path}: unreadable image")
            for frame in scene_frames(img, seconds_per_scene, fps, size):
                writer.write(frame)
    finally:
        writer.release()
    return out
