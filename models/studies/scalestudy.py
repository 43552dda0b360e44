"""`python -m maskwatch.models.studies.scalestudy OOF_NPZ --scenes DIR [--model DIR]`: whether the detector's looks,
agreeing, make a surer face score than the most confident one alone.

At `detector.upscale` [1, 2, 3] a frame is looked at three times and NMS keeps each face's most
confident box: its face score is the best look's. Something that looks like a face at one scale
only (a pattern, a blur) should be found at one look; a real face at two or more. Each kept face
is scored here by each fusion of its looks (FUSIONS) in place of the best one, and the rule (raw
p >= t, face >= s) chosen for each as training chooses it, in sample and cross-fitted over the
file's folds (maskwatch.models.studies.rulestudy's global family). The file's p are used as they are: the same
faces, its face scores checked against the detector's row by row. With --model, the model itself
(raw p) on the test split, each fusion at the rule it was given out of fold.
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from maskwatch.detections import Detections
from maskwatch.models.evaluation.heldout import read_test_split
from maskwatch.models.evaluation.metrics import Tally
from maskwatch.models.evaluation.voc import Scene, fold_of, load_scenes, split_of
from maskwatch.models.studies.rulestudy import Outcomes, StudyError, cells, choose, score
from maskwatch.models.training.crossval import RULE_BUCKETS, CrossVal


def second(score: np.ndarray, looks: np.ndarray) -> np.ndarray:
    """The second-surest look: a face at least two looks are this sure of (the only look, if one)."""
    return np.sort(looks, axis=1)[:, -min(2, looks.shape[1])] if looks.shape[1] else score


FUSIONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "the surest look (served)": lambda score, looks: score,
    "the second-surest look": second,
    "the looks' mean": lambda score, looks: looks.mean(axis=1) if looks.shape[1] else score,
    "the looks' noisy-or": lambda score, looks: 1.0 - np.prod(1.0 - looks, axis=1),
}


class FusedDetector:
    """A FaceDetector whose faces carry one fusion of their looks as their score (boxes unchanged)."""

    def __init__(self, detector, fuse: Callable[[np.ndarray, np.ndarray], np.ndarray]):
        self.detector, self.fuse, self.scales = detector, fuse, detector.scales

    def detect_many(self, images, regions=None, max_sides=None) -> list[Detections]:  # whole images, own cap only
        out = []
        for img in images:
            d, looks = self.detector.detect_by_view(img)
            out.append(Detections(d.boxes, self.fuse(d.scores, looks)))
        return out


def out_of_fold(detector, cv: CrossVal, scenes: list[Scene]) -> dict[str, dict[str, Tally]]:
    """Each fusion's tallies of the file's detections, found again fold by fold in the file's order
    (0, 1, ... where the file keeps no folds), with the file's p."""
    t = cv.tallies["all"]
    conf, p = np.asarray(t.conf, np.float32), np.asarray(t.p_no_mask, np.float32)
    order = list(dict.fromkeys(t.fold)) if cv.has_folds() else list(range(cv.folds))
    pooled = {name: {b: Tally(*RULE_BUCKETS[b]) for b in RULE_BUCKETS} for name in FUSIONS}
    row = 0
    for k in order:
        fold = {name: {b: Tally(*RULE_BUCKETS[b]) for b in RULE_BUCKETS} for name in FUSIONS}
        for sc in (s for s in scenes if fold_of(s.stem, cv.folds) == k):
            d, looks = detector.detect_by_view(_read(sc))
            if not np.allclose(d.scores, conf[row:row + len(d)], atol=1e-6):
                raise StudyError(f"{sc.stem}: the detector's face scores differ from the file's (row {row}): "
                                 f"not the detections of this file (another detector setting or scene set?)")
            for name, fuse in FUSIONS.items():
                for tally in fold[name].values():
                    tally.add(d.boxes, fuse(d.scores, looks), p[row:row + len(d)], sc.boxes, sc.violation)
            row += len(d)
        for name in FUSIONS:
            for b, tally in fold[name].items():
                pooled[name][b].extend(tally, fold=k)
    if row != len(conf):
        raise StudyError(f"the detector found {row} faces, the file holds {len(conf)}: not this file's scenes")
    return pooled


def rules(pooled: dict[str, dict[str, Tally]], folds: int) -> dict[str, dict]:
    """Each fusion's rule in sample and cross-fitted (rulestudy's global family)."""
    out = {}
    for name, tallies in pooled.items():
        buckets = [Outcomes.of(tallies[b], folds) for b in RULE_BUCKETS]
        out[name] = score(buckets, lambda keep, v, b=buckets: choose(b, keep, v, False), folds)
    return out


def held_out(detector, classifier, scenes: list[Scene], results: dict[str, dict]) -> dict[str, dict]:
    """The model on these scenes, each fusion at its rule from out of fold: {fusion: {bucket: summary}}."""
    from maskwatch.models.evaluation.evaluate import tally_scenes
    from maskwatch.models.pipeline import MaskPipeline

    out = {}
    for name, fuse in FUSIONS.items():
        pipe = MaskPipeline(FusedDetector(detector, fuse), classifier, 0.5, min_face_score=0.0)
        rule = results[name]["rule"][0]
        out[name] = {b: t.summary(*rule) for b, t in tally_scenes(pipe, scenes, RULE_BUCKETS).items()}
    return out


def _read(sc: Scene) -> np.ndarray:
    img = cv2.imread(str(sc.image))
    if img is None:
        raise StudyError(f"{sc.image}: unreadable image")
    return img


def table(results: dict, held: dict | None) -> str:
    lines = ["| face score | rule (raw p, face) | in sample F1 all / >= 24 px | cross-fitted P / R / **F1** all |"
             " cross-fitted F1 >= 24 px | held out F1 all / >= 24 px |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        ho = " / ".join(f"{held[name][b]['violation_f1']:.3f}" for b in RULE_BUCKETS) if held else ""
        lines.append(f"| {name} | {r['rule'][0][0]:g}, {r['rule'][0][1]:g} | {cells(r)} | {ho} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from maskwatch.models.build import build_detector
    from maskwatch.models.studies.bysize import raw
    from maskwatch.models_config import DetectorConfig

    ap = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    ap.add_argument("oof", type=Path, help="out_of_fold.npz (training's, or "
                    "maskwatch.models.studies.levers --save-oof)")
    ap.add_argument("--scenes", type=Path, required=True, help="the scenes-dev folder it was measured on")
    ap.add_argument("--folds", type=int, help="only for files older than the fold count they now keep")
    ap.add_argument("--model", type=Path, help="a model folder: also score it on the test split, raw")
    ap.add_argument("--out", type=Path, help="write scalestudy.json here")
    args = ap.parse_args(argv)
    cv = CrossVal.load(args.oof, args.folds)
    detector = build_detector(DetectorConfig(upscale=cv.upscale))
    scenes = load_scenes(args.scenes)
    results = rules(out_of_fold(detector, cv, [s for s in scenes if split_of(s.stem) != "test"]), cv.folds)
    held = None
    if args.model:
        test_part = read_test_split(args.scenes, "scalestudy: --model held out", scenes=scenes)
        held = held_out(detector, raw(args.model), test_part, results)
    print(table(results, held))
    if args.out:
        args.out.write_text(json.dumps({"out_of_fold": results, "held_out": held}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
