"""`python -m models.detlevers --scenes DIR`: what the detector's upscale factors do to the faces a
violation can come from, on the non-test scenes (YuNet never saw scenes-dev, so a detector setting
chosen there spends no held-out image).

For each setting: the share of ground-truth violators found at all and with a face score at least
the rule's (what can become a violation), by face width; the confident detections that match no
face (what could become false violations); and the wall-clock time, relative to the first setting.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from models.evaluate import BUCKETS
from models.metrics import greedy_match
from models.voc import Scene, load_scenes, split_of

BINS = {name: BUCKETS[name] for name in ("<16px", "16-24px", ">=24px")}  # evaluate's size buckets, by name
SETTINGS = ((2.0,), (2.5,), (3.0,), (1.0, 2.0), (2.0, 3.0), (1.0, 2.0, 3.0), (1.0, 2.0, 4.0))


@dataclass
class Found:
    """Violators per width bin: (in the ground truth, found, found at a confident score)."""
    bins: dict = field(default_factory=lambda: {name: [0, 0, 0] for name in BINS})
    unmatched_confident: int = 0
    seconds: float = 0.0

    def add(self, scene: Scene, boxes: np.ndarray, scores: np.ndarray, min_score: float) -> None:
        match = greedy_match(boxes, scores, scene.boxes)
        best = np.full(len(scene.boxes), -1.0)
        for i, j in enumerate(match):
            if j >= 0:
                best[j] = scores[i]
        self.unmatched_confident += int(((match < 0) & (scores >= min_score)).sum())
        for name, (lo, hi) in BINS.items():
            k = scene.violation & (scene.widths >= lo) & (scene.widths < hi)
            counts = self.bins[name]
            counts[0] += int(k.sum())
            counts[1] += int((k & (best >= 0)).sum())
            counts[2] += int((k & (best >= min_score)).sum())

    def shares(self) -> list[tuple[float, float, int]]:
        return [(f / n if n else 0.0, c / n if n else 0.0, n) for n, f, c in self.bins.values()]


def measure(detector, scenes: list[Scene], min_score: float) -> Found:
    found, start = Found(), time.perf_counter()
    for sc in scenes:
        d = detector.detect(cv2.imread(str(sc.image)))
        found.add(sc, d.boxes, d.scores, min_score)
    found.seconds = time.perf_counter() - start
    return found


def table(results: dict[tuple, Found], min_score: float) -> str:
    head = " | ".join(f"{name} ({n})" for name, (_, _, n) in zip(BINS, next(iter(results.values())).shares()))
    lines = [f"| upscale | violators found / at face score >= {min_score:g}: {head} | unmatched >= "
             f"{min_score:g} | time |", "|---|---|---|---|"]
    base = next(iter(results.values())).seconds or 1.0
    for scales, f in results.items():
        cells = " ; ".join(f"{a:.3f} / {c:.3f}" for a, c, _ in f.shares())
        lines.append(f"| {list(scales)} | {cells} | {f.unmatched_confident} | {f.seconds / base:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from maskwatch.models_config import DetectorConfig
    from models.build import DEFAULT_CLASSIFIER, build_detector
    from models.classifier import ModelInfo

    ap = argparse.ArgumentParser(prog="python -m models.detlevers", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", type=Path, required=True, help="scenes-dev (VOC); its test split is never read")
    ap.add_argument("--model", type=Path, help="classifier folder whose min_face_score is the bar (default: shipped)")
    args = ap.parse_args(argv)
    min_score = ModelInfo.load(args.model or DEFAULT_CLASSIFIER).min_face_score
    scenes = [s for s in load_scenes(args.scenes) if split_of(s.stem) != "test"]
    results = {scales: measure(build_detector(DetectorConfig(upscale=scales)), scenes, min_score)
               for scales in SETTINGS}
    print(table(results, min_score))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
