"""`maskwatch detect`: images, folders and video files through the pipeline, batch by batch.

With --json, exactly one line per image (or sampled video frame) on stdout, the public contract:
{"image": PATH, "width": W, "height": H, "faces": [{"box": [x1, y1, x2, y2], "score": S,
 "label": "mask"|"no_mask", "p_no_mask": P}]}. Video frames are named PATH#frame=N.
"""
from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from maskwatch.annotate import draw
from maskwatch.models.evaluation.voc import IMAGE_SUFFIXES
from maskwatch.models.pipeline import MaskPipeline

log = logging.getLogger(__name__)
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".ts")


@dataclass
class Item:
    name: str
    image: np.ndarray | None
    error: str | None = None


def iter_inputs(paths: list[str], video_fps: float) -> Iterator[Item]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
            if not files:
                yield Item(raw, None, f"{raw}: no images or videos in this folder")
            for f in files:
                yield from _one(f, video_fps)
        elif path.exists():
            yield from _one(path, video_fps)
        else:
            yield Item(raw, None, f"{raw}: no such file or folder")


def _one(path: Path, video_fps: float) -> Iterator[Item]:
    if path.suffix.lower() in VIDEO_SUFFIXES:
        yield from _video_frames(path, video_fps)
        return
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        yield Item(str(path), None, f"{path}: unreadable image (not a supported image file, or corrupt)")
    else:
        yield Item(str(path), img)


def _video_frames(path: Path, video_fps: float) -> Iterator[Item]:
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            yield Item(str(path), None, f"{path}: unreadable video")
            return
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        stride = max(1, round(fps / video_fps)) if video_fps > 0 else 1
        n = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if n % stride == 0:
                yield Item(f"{path}#frame={n}", frame)
            n += 1
        if n == 0:
            yield Item(str(path), None, f"{path}: video has no decodable frames")
    finally:
        cap.release()


def run_detect(pipeline: MaskPipeline, paths: list[str], *, as_json: bool, annotate: Path | None,
               batch: int = 8, video_fps: float = 5.0, out=sys.stdout) -> int:
    """Process everything; returns the number of inputs that could not be read."""
    if annotate:
        annotate.mkdir(parents=True, exist_ok=True)
    failures = 0
    pending: list[Item] = []

    def flush():
        for item, det in zip(pending, pipeline.run([i.image for i in pending])):
            h, w = item.image.shape[:2]
            if as_json:
                out.write(json.dumps({"image": item.name, "width": w, "height": h,
                                      "faces": det.to_json_faces(pipeline.threshold,
                                                                 pipeline.min_face_score)}) + "\n")
            else:
                bad = sum(1 for lab in pipeline.labels(det) if lab == "no_mask")
                out.write(f"{item.name}: {len(det)} faces, {bad} without mask\n")
            if annotate:
                cv2.imwrite(str(annotate / _annotated_name(item.name)), draw(item.image, det, pipeline.threshold,
                                                                          pipeline.min_face_score))
        out.flush()
        pending.clear()

    for item in iter_inputs(paths, video_fps):
        if item.error:
            failures += 1
            print(f"maskwatch detect: {item.error}", file=sys.stderr)
            continue
        pending.append(item)
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    return failures


def _annotated_name(name: str) -> str:
    base, _, frame = name.partition("#frame=")
    stem = Path(base).stem
    return f"{stem}_f{int(frame):06d}.jpg" if frame else f"{stem}.jpg"
