"""`python -m maskwatch.models.studies.oofinterval OOF_NPZ --scenes DIR`: out-of-fold violation F1 at the file's rule,
with its 95% interval over images (maskwatch.models.evaluation.metrics.f1_interval).

Files kept since 2026-12-06 say which image each detection came from. Older ones do not: for
those the detector is run again over the same scenes in the order the folds were pooled in (as
maskwatch.models.studies.falsestudy does), each detection's face score must agree with the file's row by row, and
the file's p are tallied again image by image; the counts must come out as the file's. Where
training pooled several scene sets, each set's numbers are given apart as well.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from maskwatch.models.evaluation.metrics import Tally, f1_interval
from maskwatch.models.evaluation.voc import Scene, load_scenes, split_of
from maskwatch.models.studies.falsestudy import Found, detections_in_order, in_fold_order, same_detections
from maskwatch.models.studies.rulestudy import StudyError
from maskwatch.models.training.crossval import RULE_BUCKETS, CrossVal


def knows_images(cv: CrossVal) -> bool:
    return all(t.knows_images() for t in cv.tallies.values())


def retallied(cv: CrossVal, scenes: list[Scene], found: list[Found]) -> dict[str, Tally]:
    """The file's detections tallied again image by image: `found` are the same detections, in the
    file's order, over `scenes` in that order."""
    conf = same_detections(found, cv.tallies["all"])
    p = np.asarray(cv.tallies["all"].p_no_mask, float)
    rows: dict[str, list[int]] = {}
    for i, f in enumerate(found):
        rows.setdefault(f.scene.stem, []).append(i)
    out = {name: Tally(*RULE_BUCKETS[name]) for name in cv.tallies}
    for sc in scenes:
        mine = rows.get(sc.stem, [])
        boxes = np.asarray([found[i].box for i in mine], np.float32).reshape(-1, 4)
        for t in out.values():
            t.add(boxes, conf[mine], p[mine], sc.boxes, sc.violation)
    return out


def same_counts(again: dict[str, Tally], cv: CrossVal, rule: tuple[float, float]) -> None:
    """The detections tallied again must count at the rule as the file does."""
    for name, t in again.items():
        if t.violation_counts(*rule) != cv.tallies[name].violation_counts(*rule):
            raise StudyError(f"{name}: tallied again, the counts are {t.violation_counts(*rule)}, the file's "
                             f"{cv.tallies[name].violation_counts(*rule)}")


def intervals(tallies: dict[str, Tally], rule: tuple[float, float]) -> dict:
    """Each bucket's counts, F1 and interval at the rule."""
    out = {}
    for name, t in tallies.items():
        counts = t.violation_counts(*rule)
        lo, hi = f1_interval(t.image_counts(*rule))
        out[name] = {"true": counts[0], "false": counts[1], "missed": counts[2], "images": len(t.image_violations),
                     "violation_f1": round(t.f1(*rule)[2], 3), "interval": [round(lo, 3), round(hi, 3)]}
    return out


def study(oof: Path, scenes_dir: Path | None, folds: int | None = None) -> dict:
    cv = CrossVal.load(oof, folds)
    rule = cv.rule()
    tallies = cv.tallies
    if not knows_images(cv):
        if scenes_dir is None:
            raise StudyError(f"{oof}: kept before files said which image each detection came from: give --scenes")
        from maskwatch.models.build import build_detector
        from maskwatch.models_config import DetectorConfig

        scenes = [s for s in load_scenes(scenes_dir) if split_of(s.stem) != "test"]
        t = cv.tallies["all"]
        order = list(dict.fromkeys(t.fold)) if cv.has_folds() else list(range(cv.folds))
        scenes = in_fold_order(scenes, cv.folds, order)
        tallies = retallied(cv, scenes, detections_in_order(build_detector(DetectorConfig(upscale=cv.upscale)),
                                                            scenes))
        same_counts(tallies, cv, rule)
    out = {"rule": list(rule), "buckets": intervals(tallies, rule)}
    if len(cv.by_source) > 1:  # training pooled several scene sets (train --more-scenes): each apart too
        out["by_set"] = {src: intervals(t, rule) for src, t in sorted(cv.by_source.items())}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    ap.add_argument("oof", type=Path, help="out_of_fold.npz (training's, or "
                    "maskwatch.models.studies.levers --save-oof)")
    ap.add_argument("--scenes", type=Path, help="the scenes-dev folder it was measured on (older files only)")
    ap.add_argument("--folds", type=int, help="only for files older than the fold count they now keep")
    args = ap.parse_args(argv)
    try:
        print(json.dumps(study(args.oof, args.scenes, args.folds)))
    except StudyError as e:
        ap.exit(2, f"maskwatch.models.studies.oofinterval: {e}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
