"""YuNet face detection (ONNX Runtime, or cv2.FaceDetectorYN), with upscaling and tiling for small faces.

Half the faces in real scenes are under 24 px wide, below what YuNet finds at native scale, so
the frame is resized by `upscale` (capped by `max_side`) and optionally cut into overlapping
tiles; boxes are mapped back to input pixels and merged by NMS across tiles. `upscale` may name
several factors: the frame is looked at at each and NMS keeps each face's most confident box.
YuNet is surest of a face near the sizes it was trained on, so a small face is confident at 3x, a
large one at 1x: on the 404 non-test scenes-dev images the share of violators found with a face
score >= 0.8 (what can become a violation) went from 0.69 / 0.88 / 0.92 (< 16 / 16-24 / >= 24 px)
at 2x to 0.78 / 0.93 / 0.95 at 1x + 2x + 3x.

Whole frames, tiles and motion regions are all views; with `batch_size` > 1 the views of many
frames (a worker's batch spans cameras) run as one network call per input shape: the GPU path.
A frame's shape is its own padded to 32 px (as a single call pads it), so a site's cameras give a
few fixed shapes and the batched path finds exactly what the per-frame one does (a test checks it
on the bundled scenes). A motion region is grown over real pixels of its frame to sides in
multiples of 128 px, so regions of different sizes still share a few shapes.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from maskwatch.detections import Detections
from maskwatch.geometry import clamp, iou_matrix
from maskwatch.models.modelinfo import padded_size
from maskwatch.models.yunet import load_yunet

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


def scales_of(upscale: float | tuple[float, ...]) -> tuple[float, ...]:
    """One factor or several, as a sorted tuple without repeats."""
    scales = (float(upscale),) if isinstance(upscale, int | float) else tuple(sorted({float(u) for u in upscale}))
    if not scales or min(scales) <= 0:
        raise ValueError(f"face detector: upscale factors must be positive, got {upscale!r}")
    return scales


def working_scales(width: int, height: int, scales: tuple[float, ...], max_side: int) -> list[float]:
    """Each factor's working scale for this frame; factors the cap makes equal are looked at once
    (a 720p frame under max_side 1280 is seen once, at 1x, whatever the factors)."""
    out: list[float] = []
    for u in scales:
        s = working_scale(width, height, u, max_side)
        if not any(abs(s - t) < 1e-3 for t in out):
            out.append(s)
    return out


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, highest score first."""
    if len(boxes) == 0:
        return np.zeros((0,), np.int64)
    xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]).tolist()
    keep = cv2.dnn.NMSBoxes(xywh, scores.tolist(), 0.0, iou)
    return np.asarray(keep, np.int64).reshape(-1)


@dataclass(frozen=True)
class View:
    """What the network looks at: pixels already at the working scale, where their top left sits
    in the frame, and work pixels per frame pixel (to map boxes back)."""
    image: np.ndarray
    x: float
    y: float
    sx: float
    sy: float


LOOK_IOU = 0.5  # a view's box this close to a kept face is that view's look at the same face
REGION_STEP = 128  # batched, a region's view grows (over its frame's pixels) to sides in multiples of this


class FaceDetector:
    def __init__(self, model_path: Path, *, score_threshold: float = 0.5, nms_threshold: float = 0.3,
                 upscale: float | tuple[float, ...] = 1.0, max_side: int = 1280, tiles: tuple[int, int] = (1, 1),
                 tile_overlap: float = 0.15, top_k: int = 5000, threads: int | None = None,
                 backend: str = "auto", device: str = "cpu", batch_size: int = 1):
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
        self.scales = scales_of(upscale)
        self.max_side = max_side
        self.tiles = tiles
        self.tile_overlap = tile_overlap
        # one network call for many views needs the ONNX Runtime backend (OpenCV's takes one image)
        self.batch_size = batch_size if hasattr(self._net, "run_batch") else 1
        self._pad_batches = device != "cpu"

    def detect(self, image: np.ndarray) -> Detections:
        """Faces in a BGR image, boxes in its own pixel coordinates."""
        return self.detect_many([image])[0]

    def detect_regions(self, image: np.ndarray, regions) -> Detections:
        """Faces inside these regions (x1, y1, x2, y2) of a frame only, found at the scale the whole
        frame would be (so a small face is as findable as in a full pass); merged by NMS where
        regions overlap. The motion-gated path of a worker."""
        return self.detect_many([image], [regions])[0]

    def detect_many(self, images: list[np.ndarray], regions: list | None = None,
                    max_sides: list[int | None] | None = None) -> list[Detections]:
        """Faces in each image, in order. regions[i] (motion gating): None, look at the whole image;
        [], look nowhere; else only inside those boxes. max_sides[i]: this image's cap instead of
        max_side (a camera's own, cameras[].max_side: a 1080p camera kept at its size). With
        batch_size > 1 every view of every image (frames, tiles, regions: often from many cameras)
        goes through the network in one call per input shape (and batch_size)."""
        views = []
        for i, image in enumerate(images):
            _check(image)
            where = regions[i] if regions is not None else None
            cap = (max_sides[i] if max_sides is not None else None) or self.max_side
            views.append(self._frame_views(image, cap) if where is None else self._region_views(image, where, cap))
        found = self._look([v for vs in views for v in vs])
        out, start = [], 0
        for image, vs in zip(images, views):
            out.append(self._merge(found[start:start + len(vs)], image.shape[1], image.shape[0]))
            start += len(vs)
        return out

    def detect_by_view(self, image: np.ndarray) -> tuple[Detections, np.ndarray]:
        """detect's faces, and how sure each view (a scale, a tile) was of each: the best score of
        that view's boxes at IoU >= LOOK_IOU with the face, 0 where it found none; (faces, views).
        The face's own score is NMS's, its most confident box, usually the largest look."""
        _check(image)
        h, w = image.shape[:2]
        found = self._look(self._frame_views(image))
        merged = self._merge(found, w, h)
        looks = np.zeros((len(merged), len(found)), np.float32)
        for j, view in enumerate(found):
            if len(view) and len(merged):
                near = iou_matrix(merged.boxes, clamp(view.boxes.copy(), w, h)) >= LOOK_IOU
                looks[:, j] = np.where(near, view.scores[None, :], 0.0).max(axis=1)
        return merged, looks

    def _frame_views(self, image: np.ndarray, max_side: int | None = None) -> list[View]:
        h, w = image.shape[:2]
        cols, rows = self.tiles
        views = []
        for s in working_scales(w, h, self.scales, max_side or self.max_side):
            work = self._resize(image, s)
            sx, sy = work.shape[1] / w, work.shape[0] / h
            views += [View(work[t.y:t.y + t.h, t.x:t.x + t.w], t.x / sx, t.y / sy, sx, sy)
                      for t in plan_tiles(work.shape[1], work.shape[0], cols, rows, self.tile_overlap)]
        return views

    def _region_views(self, image: np.ndarray, regions, max_side: int | None = None) -> list[View]:
        h, w = image.shape[:2]
        views = []
        for s in working_scales(w, h, self.scales, max_side or self.max_side):
            for x1, y1, x2, y2 in regions:
                if self.batch_size > 1:
                    x1, x2 = _grow(x1, x2, w, s)
                    y1, y2 = _grow(y1, y2, h, s)
                crop = image[y1:y2, x1:x2]
                if crop.size:
                    work = self._resize(crop, s)
                    views.append(View(work, x1, y1, work.shape[1] / crop.shape[1], work.shape[0] / crop.shape[0]))
        return views

    @staticmethod
    def _resize(image: np.ndarray, s: float) -> np.ndarray:
        if s == 1.0:
            return image
        h, w = image.shape[:2]
        return cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))),
                          interpolation=cv2.INTER_LINEAR if s > 1 else cv2.INTER_AREA)

    def _look(self, views: list[View]) -> list[Detections]:
        """Each view's faces in frame pixels: one call per view, or batched by input shape."""
        if self.batch_size <= 1:
            return [self._in_frame(v, *self._run(v.image)) for v in views]
        found: list[Detections | None] = [None] * len(views)
        by_shape: dict[tuple[int, int], list[int]] = {}
        for i, v in enumerate(views):
            h, w = v.image.shape[:2]
            by_shape.setdefault((_up(h, 32), _up(w, 32)), []).append(i)  # padded as a single call pads
        for shape, idx in by_shape.items():
            for k in range(0, len(idx), self.batch_size):
                part = idx[k:k + self.batch_size]
                for i, (boxes, scores) in zip(part, self._run_batch([views[i].image for i in part], shape)):
                    found[i] = self._in_frame(views[i], boxes, scores)
        return found

    def _run_batch(self, images: list[np.ndarray], shape: tuple[int, int]) -> list:
        """One network call: the images at the top left of zero canvases of `shape`; on a GPU the
        batch is padded to a bucket size, so the shapes a session sees stay few and fixed."""
        n = len(images)
        if self._pad_batches:
            n = padded_size(n)
        # uint8, a quarter of float32's bytes: the network casts it itself (yunet.uint8_input)
        blob = np.zeros((n, 3, *shape), np.uint8)
        for j, img in enumerate(images):
            blob[j, :, :img.shape[0], :img.shape[1]] = img.transpose(2, 0, 1)
        return self._net.run_batch(blob, [img.shape[:2] for img in images])

    def _run(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._net(np.ascontiguousarray(image))

    @staticmethod
    def _in_frame(v: View, boxes: np.ndarray, scores: np.ndarray) -> Detections:
        return Detections(boxes / np.array([v.sx, v.sy, v.sx, v.sy], np.float32)
                          + np.array([v.x, v.y, v.x, v.y], np.float32), scores)

    def _merge(self, parts: list[Detections], w: int, h: int) -> Detections:
        """One image's faces from its views: NMS where views overlap, clipped to the frame."""
        found = Detections.concat(parts)
        if len(parts) > 1 and len(found):
            found = found.subset(nms(found.boxes, found.scores, self.nms_threshold))
        boxes = clamp(found.boxes.copy(), w, h)
        keep = (boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1)
        return Detections(boxes[keep], found.scores[keep])


def _check(image) -> None:
    if image is None or image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
        raise ValueError(f"face detector needs an HxWx3 BGR image, got shape {getattr(image, 'shape', None)}")


def _up(n: int, step: int) -> int:
    return -(-n // step) * step


def _grow(a: int, b: int, limit: int, s: float) -> tuple[int, int]:
    """A span of frame pixels widened around its centre so that at scale s it is a multiple of
    REGION_STEP (at most the whole frame), shifted inside 0..limit."""
    want = min(limit, int(_up(max(1, round((b - a) * s)), REGION_STEP) / s))
    a = max(0, min(limit - want, (a + b - want) // 2))
    return a, a + want
