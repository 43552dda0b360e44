"""Synthetic frames and detections as ingest and a worker send them, and the JPEGs they carry."""
from __future__ import annotations

import dataclasses
import time

import cv2
import numpy as np

from maskwatch.wire import frames as wire_frames
from maskwatch.wire.detections import DetectionMsg, Face


def jpeg(img: np.ndarray, quality: int = 80) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def solid_jpeg(color: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    """A width x height picture of one colour."""
    img = np.zeros((size[1], size[0], 3), np.uint8)
    img[:] = color
    return jpeg(img, 95)


_CROP = jpeg(np.full((24, 20, 3), 128, np.uint8))


def frame_jpeg(width: int, height: int, boxes: list[tuple]) -> bytes:
    img = np.full((height, width, 3), 60, np.uint8)
    for x1, y1, x2, y2 in boxes:
        cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), (200, 190, 180), -1)
    return jpeg(img)


def detection(camera: str, seq: int, captured_at: float, faces: list[tuple[tuple, float]], *,
              width: int = 320, height: int = 240, threshold: float = 0.5,
              model_version: str = "test-1", embeddings: list | None = None) -> DetectionMsg:
    """A worker's message: faces are (box, p_no_mask); the frame travels only with a candidate face.
    `embeddings`: one unit vector (or None) per face, as the classifier gives them."""
    fs = [Face(tuple(float(v) for v in box), 0.9, float(p)) for box, p in faces]
    msg = DetectionMsg(camera=camera, seq=seq, captured_at=captured_at, detected_at=captured_at + 0.05,
                       worker="w-test", model_version=model_version, width=width, height=height,
                       threshold=threshold, faces=fs, crops=[_CROP] * len(fs), embeddings=embeddings or [])
    if msg.has_candidate:
        msg = dataclasses.replace(msg, frame_jpeg=frame_jpeg(width, height, [f.box for f in fs]))
    return msg


def frame_fields(cam: str, seq: int, image: np.ndarray, age_s: float = 0.0) -> dict:
    """A frames-stream entry as ingest writes it, captured age_s ago."""
    h, w = image.shape[:2]
    return wire_frames.encode(wire_frames.FrameMsg(cam, seq, time.time() - age_s, w, h, jpeg(image, 95)))
