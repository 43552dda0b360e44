"""YuNet face detection (ONNX Runtime, or cv2.FaceDetectorYN), with upscaling and tiling for small faces.

Half the faces in real scenes are under 24 px wide, below what YuNet finds at native scale, so
the frame is resized by `upscale` (capped by `max_side`) and optionally cut into overlapping
tiles; boxes are mapped back to input pixels and merged by NMS across tiles.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from maskwatch.detections import Detections
from models.yunet import load_yunet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tile:
    x: int
    y: int
    w: int
    h: int


def plan_tiles(width: int, height: int, cols: int, rows: int, overlap: float) -> list[Tile]:
    """Cover a width x height image with cols x rows tiles overlapping by `overlap` of a tile."""
    tw = int(np.ceil(width / (cols - (cols - 1) * overlap)))
    th = int(np.ceil(height / (rows - (rows - 1) * overlap)))
    tw, th = min(tw, width), min(th, height)
    tiles = []
    for r in range(rows):
        for c in range(cols):
            x = 0 if cols == 1 else round(c * (width - tw) / (cols - 1))
            y = 0 if rows == 1 else round(r * (height - th) / (rows - 1))
            tiles.append(Tile(x, y, tw, th))
    return tiles


def working_scale(width: int, height: int, upscale: float, max_side: int) -> float:
    """The factor the frame is resized by: `upscale`, reduced so the longest side stays <= max_side."""
    return min(upscale, max_side / max(width, height))


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, highest score first."""
    if len(boxes) == 0:
        return np.zeros((0,), np.int64)
    xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]).tolist()
    keep = cv2.dnn.NMSBoxes(xywh, scores.tolist(), 0.0, iou)
    return np.asarray(keep, np.int64).reshape(-1)


class FaceDetector:
    def __init__(self, model_path: Path, *, score_threshold: float = 0.5, nms_threshold: float = 0.3,
                 upscale: float = 1.0, max_side: int = 1280, tiles: tuple[int, int] = (1, 1),
                 tile_overlap: float = 0.15, top_k: int = 5000, threads: int | None = None,
                 backend: str = "auto", device: str = "cpu"):
        model_path = Path(model_path)
        if not model_path.is_file():
            raise FileNotFoundError(f"face detector weights not found: {model_path}")
        self._net = load_yunet(model_path, backend, score_threshold, nms_threshold, top_k, threads, device)
        if threads:
            cv2.setNumThreads(threads)  # resizing and JPEG work in this process
        self.backend = self._net.name
        self.model_path = model_path
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.upscale = upscale
        self.max_side = max_side
        self.tiles = tiles
        self.tile_overlap = tile_overlap

    def detect(self, image: np.ndarray) -> Detections:
        """Faces in a BGR image, boxes in its own pixel coordinates."""
        if image is None or image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
            raise ValueError(f"face detector needs an HxWx3 BGR image, got shape "
                             f"{getattr(image, 'shape', None)}")
        h, w = image.shape[:2]
        s = working_scale(w, h, self.upscale, self.max_side)
        work = image if s == 1.0 else cv2.resize(
            image, (max(1, round(w * s)), max(1, round(h * s))),
            interpolation=cv2.INTER_LINEAR if s > 1 else cv2.INTER_AREA)
        sx, sy = work.shape[1] / w, work.shape[0] / h
        cols, rows = self.tiles
        parts = []
        for t in plan_tiles(work.shape[1], work.shape[0], cols, rows, self.tile_overlap):
            boxes, scores = self._run(work[t.y:t.y + t.h, t.x:t.x + t.w])
            boxes += np.array([t.x, t.y, t.x, t.y], np.float32)
            parts.append(Detections(boxes, scores))
        found = Detections.concat(parts)
        if len(parts) > 1:
            found = found.subset(nms(found.boxes, found.scores, self.nms_threshold))
        boxes = found.boxes / np.array([sx, sy, sx, sy], np.float32)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        keep = (boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1)
        return Detections(boxes[keep], found.scores[keep])

    def detect_regions(self, image: np.ndarray, regions) -> Detections:
        """Faces inside these regions (x1, y1, x2, y2) of a frame only, found at the scale the whole
        frame would be (so a small face is as findable as in a full pass); merged by NMS where
        regions overlap. The motion-gated path of a worker."""
        h, w = image.shape[:2]
        s = working_scale(w, h, self.upscale, self.max_side)
        parts = []
        for x1, y1, x2, y2 in regions:
            crop = image[y1:y2, x1:x2]
            if crop.size == 0:
                continue
            work = crop if s == 1.0 else cv2.resize(
                crop, (max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s))),
                interpolation=cv2.INTER_LINEAR if s > 1 else cv2.INTER_AREA)
            boxes, scores = self._run(work)
            boxes = boxes / np.array([work.shape[1] / crop.shape[1], work.shape[0] / crop.shape[0]] * 2, np.float32)
            parts.append(Detections(boxes + np.array([x1, y1, x1, y1], np.float32), scores))
        found = Detections.concat(parts)
        if len(parts) > 1 and len(found):
            found = found.subset(nms(found.boxes, found.scores, self.nms_threshold))
        return found

    def _run(self, tile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._net(np.ascontiguousarray(tile))
