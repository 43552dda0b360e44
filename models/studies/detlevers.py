"""`python -m maskwatch.models.studies.detlevers --scenes DIR`: what the detector's upscale factors do to the faces a
violation can come from, on the non-test scenes (YuNet never saw scenes-dev, so a detector setting
chosen there spends no held-out image).

For each setting: the share of ground-truth violators found at all and with a face score at least
the rule's (what can become a violation), by face width; the confident detections that match no
face (what could become false violations); and the wall-clock time, relative to the first setting.

With `--weights A.onnx B.onnx ...` (such as maskwatch.models.studies.detector_tune's, `--fold K` to score a fold it
left out), each file is measured at the default factors instead, and also at equal cost: the
violators found above the face-score cut that lets through as many detections on no annotated face
(20, 40, 60, 100), since a fine-tuned detector's scores mean other things than the shipped one's.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from maskwatch.models.evaluation.evaluate import BUCKETS
from maskwatch.models.evaluation.metrics import greedy_match
from maskwatch.models.evaluation.voc import Scene, fold_of, load_scenes, split_of

BINS = {name: BUCKETS[name] for name in ("<16px", "16-24px", ">=24px")}  # evaluate's size buckets, by name
SETTINGS = ((2.0,), (2.5,), (3.0,), (1.0, 2.0), (2.0, 3.0), (1.0, 2.0, 3.0), (1.0, 2.0, 4.0))


def matched(scene: Scene, boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The metric's match of each detection (-1: none) and each annotated face's matched score (-1: not found)."""
    match = greedy_match(boxes, scores, scene.boxes)
    best = np.full(len(scene.boxes), -1.0)
    for i, j in enumerate(match):
        if j >= 0:
            best[j] = scores[i]
    return match, best


@dataclass
class Found:
    """Violators per width bin: (in the ground truth, found, found at a confident score)."""
    bins: dict = field(default_factory=lambda: {name: [0, 0, 0] for name in BINS})
    unmatched_confident: int = 0
    seconds: float = 0.0

    def add(self, scene: Scene, boxes: np.ndarray, scores: np.ndarray, min_score: float) -> None:
        match, best = matched(scene, boxes, scores)
        self.unmatched_confident += int(((match < 0) & (scores >= min_score)).sum())
        for name, (lo, hi) in BINS.items():
            k = scene.violation & (scene.widths >= lo) & (scene.widths < hi)
            counts = self.bins[name]
            counts[0] += int(k.sum())
            counts[1] += int((k & (best >= 0)).sum())
            counts[2] += int((k & (best >= min_score)).sum())

    def shares(self) -> list[tuple[float, float, int]]:
        return [(f / n if n else 0.0, c / n if n else 0.0, n) for n, f, c in self.bins.values()]


@dataclass
class Ranked:
    """Each violator's best matched face score (-1: not found) and width, and the scores of the
    detections that match no annotated face."""
    best: list = field(default_factory=list)
    widths: list = field(default_factory=list)
    unmatched: list = field(default_factory=list)

    def add(self, scene: Scene, boxes: np.ndarray, scores: np.ndarray) -> None:
        match, best = matched(scene, boxes, scores)
        self.best += best[scene.violation].tolist()
        self.widths += scene.widths[scene.violation].tolist()
        self.unmatched += np.asarray(scores)[match < 0].tolist()

    def at_unmatched(self, n: int) -> tuple[float, list[tuple[int, int]]]:
        """The cut that lets n unmatched detections through (0 if fewer exist) and, per width bin,
        (violators found above it, violators)."""
        ranked = np.sort(np.asarray(self.unmatched, np.float64))[::-1]
        cut = float(ranked[n]) if n < len(ranked) else 0.0
        best, widths = np.asarray(self.best), np.asarray(self.widths)
        bins = [(widths >= lo) & (widths < hi) for lo, hi in BINS.values()]
        return cut, [(int((k & (best > cut)).sum()), int(k.sum())) for k in bins]


def measure(detector, scenes: list[Scene], min_score: float, ranked: Ranked | None = None) -> Found:
    found, start = Found(), time.perf_counter()
    for sc in scenes:
        d = detector.detect(cv2.imread(str(sc.image)))
        found.add(sc, d.boxes, d.scores, min_score)
        if ranked is not None:
            ranked.add(sc, d.boxes, d.scores)
    found.seconds = time.perf_counter() - start
    return found


def table(results: dict[tuple, Found], min_score: float, first: str = "upscale") -> str:
    head = " | ".join(f"{name} ({n})" for name, (_, _, n) in zip(BINS, next(iter(results.values())).shares()))
    lines = [f"| {first} | violators found / at face score >= {min_score:g}: {head} | unmatched >= "
             f"{min_score:g} | time |", "|---|---|---|---|"]
    base = next(iter(results.values())).seconds or 1.0
    for scales, f in results.items():
        cells = " ; ".join(f"{a:.3f} / {c:.3f}" for a, c, _ in f.shares())
        lines.append(f"| {list(scales)} | {cells} | {f.unmatched_confident} | {f.seconds / base:.1f} |")
    return "\n".join(lines)


EQUAL_UNMATCHED = (20, 40, 60, 100)


def ranked_table(results: dict[str, Ranked]) -> str:
    lines = [f"| weights | unmatched let through | face-score cut | violators above it: {' | '.join(BINS)} |",
             "|---|---|---|---|---|---|"]
    for name, r in results.items():
        for n in EQUAL_UNMATCHED:
            cut, bins = r.at_unmatched(n)
            lines.append(f"| {name} | {n} | {cut:.3f} | " + " | ".join(f"{f} of {t}" for f, t in bins) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from maskwatch.models.build import DEFAULT_CLASSIFIER, DEFAULT_DETECTOR, build_detector
    from maskwatch.models.modelinfo import ModelInfo
    from maskwatch.models_config import DetectorConfig

    ap = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", type=Path, required=True, help="scenes-dev (VOC); its test split is never read")
    ap.add_argument("--model", type=Path, help="classifier folder whose min_face_score is the bar (default: shipped)")
    ap.add_argument("--weights", type=Path, nargs="+", metavar="ONNX",
                    help="compare these YuNet files at the default factors (the shipped one first)")
    ap.add_argument("--fold", type=int, help="only this fold of the non-test images (one a file left out)")
    ap.add_argument("--folds", type=int, default=2)
    args = ap.parse_args(argv)
    if args.fold is not None and not 0 <= args.fold < args.folds:
        ap.error(f"--fold {args.fold}: expected 0..{args.folds - 1}")
    min_score = ModelInfo.load(args.model or DEFAULT_CLASSIFIER).min_face_score
    scenes = [s for s in load_scenes(args.scenes) if split_of(s.stem) != "test"
              and (args.fold is None or fold_of(s.stem, args.folds) == args.fold)]
    if not args.weights:
        results = {scales: measure(build_detector(DetectorConfig(upscale=scales)), scenes, min_score)
                   for scales in SETTINGS}
        print(table(results, min_score))
        return 0
    files = [DEFAULT_DETECTOR, *args.weights]
    ranked = {str(w): Ranked() for w in files}
    results = {(str(w),): measure(build_detector(DetectorConfig(model=w)), scenes, min_score, ranked[str(w)])
               for w in files}
    print(table(results, min_score, first="weights"))
    print(ranked_table(ranked))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
