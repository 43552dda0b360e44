"""`python -m maskwatch.models.studies.falsestudy OOF_NPZ --scenes DIR`: where the false violations lie,
and why violators are missed.

A detection the rule calls a violation is false when it matches no annotated violator (IoU >= 0.3,
the metric's). It lies on an annotated masked face, near an annotated face (IoU 0.1-0.3: a box the
metric does not match, so the face counts as missed as well), or on no annotated face at all: a
face the annotators left out (blurred background faces, faces on screens and posters, faces half
hidden) or no face. The out-of-fold file keeps no boxes, so the detector is run again over the
same scenes in the order the folds were pooled in, and every detection's face score must agree
with the file's: the same detections, row by row. With --out, a montage of the last kind.
The annotated violators the rule missed are counted the same way: no detection the metric matches
to it, or its detection's face score, p or both below the rule.
`--split test --model DIR` counts the same for the model's detections of the test split, at the
rule the file chose.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from maskwatch.geometry import iou_matrix
from maskwatch.models.evaluation.heldout import read_test_split
from maskwatch.models.evaluation.metrics import greedy_match
from maskwatch.models.evaluation.voc import Scene, fold_of, load_scenes, split_of
from maskwatch.models.studies.rulestudy import BANDS, StudyError
from maskwatch.models.training.crossval import RULE_BUCKETS, CrossVal

NEAR_IOU = 0.1  # below the metric's 0.3: a face the box overlaps, not one it matches
KINDS = ("caught", "on a masked face", "near an annotated face", "on no annotated face")
MISSES = ("caught", "not found", "face score below the rule", "p below the rule", "both below the rule")


@dataclass(frozen=True)
class Found:
    scene: Scene
    box: np.ndarray
    score: float
    iou: float  # its largest IoU with any annotated face of its image
    gt: int = -1  # the annotated face of its image the metric matches it to, -1 for none


def in_fold_order(scenes: list[Scene], folds: int, order: list[int]) -> list[Scene]:
    """The scenes fold by fold in `order`, as cross-validation pooled them."""
    return [sc for k in order for sc in scenes if fold_of(sc.stem, folds) == k]


def detections_in_order(detector, scenes: list[Scene]) -> list[Found]:
    """Every detection of these scenes, in their order."""
    out = []
    for sc in scenes:
        img = cv2.imread(str(sc.image))
        if img is None:
            raise StudyError(f"{sc.image}: unreadable image")
        d = detector.detect_many([img])[0]
        gt = np.asarray(sc.boxes, np.float32).reshape(-1, 4)
        iou = iou_matrix(d.boxes, gt).max(axis=1) if len(gt) else np.zeros(len(d.boxes))
        match = greedy_match(d.boxes, d.scores, gt)
        out += [Found(sc, b, float(s), float(i), int(j))
                for b, s, i, j in zip(d.boxes, d.scores, iou, match, strict=True)]
    return out


def held_out(detector, model: Path, scenes: list[Scene]) -> CrossVal:
    """A model's detections of these scenes (raw p, every face kept) as a file of one fold."""
    from maskwatch.models.evaluation.evaluate import tally_scenes
    from maskwatch.models.pipeline import MaskPipeline
    from maskwatch.models.studies.bysize import raw

    pipe = MaskPipeline(detector, raw(model), 0.5, min_face_score=0.0)
    cv = CrossVal(1, upscale=detector.scales)
    for name, t in tally_scenes(pipe, scenes, RULE_BUCKETS).items():
        cv.tallies[name].extend(t, fold=0)
    return cv


def same_detections(found: list[Found], t) -> np.ndarray:
    """The tally's face scores, once `found` is checked to be its detections, row by row."""
    conf = np.asarray(t.conf, float)
    if len(found) != len(conf) or not np.allclose([f.score for f in found], conf, atol=1e-6):
        raise StudyError(f"the detector found {len(found)} faces, the file holds {len(conf)}, or their scores "
                         f"differ: not the detections of this file (another detector setting or scene set?)")
    return conf


def kinds(cv: CrossVal, found: list[Found], rule: tuple[float, float]) -> np.ndarray:
    """KINDS' index for each flagged detection of the "all" tally, -1 where the rule does not flag it."""
    t = cv.tallies["all"]
    conf = same_detections(found, t)
    flagged = (np.asarray(t.p_no_mask) >= rule[0]) & (conf >= rule[1])
    hit, mask = np.asarray(t.on_violation, bool), np.asarray(t.on_mask, bool)
    near = np.asarray([f.iou for f in found]) > NEAR_IOU
    kind = np.select([hit, mask, near], [0, 1, 2], 3)
    return np.where(flagged, kind, -1)


def misses(cv: CrossVal, found: list[Found], scenes: list[Scene], rule: tuple[float, float]):
    """Each annotated violator of the scenes: its width and MISSES' index, why the rule did not flag it."""
    t = cv.tallies["all"]
    p, conf = np.asarray(t.p_no_mask), np.asarray(t.conf)
    row = {(f.scene.stem, f.gt): i for i, f in enumerate(found) if f.gt >= 0}
    width, why = [], []
    for sc in scenes:
        gt = np.asarray(sc.boxes, np.float32).reshape(-1, 4)
        for g in np.flatnonzero(np.asarray(sc.violation, bool)):
            width.append(float(gt[g, 2] - gt[g, 0]))
            i = row.get((sc.stem, int(g)))
            low_face, low_p = (True, True) if i is None else (conf[i] < rule[1], p[i] < rule[0])
            why.append(1 if i is None else 4 if low_face and low_p else 2 if low_face else 3 if low_p else 0)
    return np.asarray(width), np.asarray(why, int)


def band_name(lo: float, hi: float) -> str:
    if lo == 0.0:
        return "all" if hi == float("inf") else f"< {hi:g} px"
    return f">= {lo:g} px" if hi == float("inf") else f"{lo:g}-{hi:g} px"


def table(width: np.ndarray, kind: np.ndarray, names: tuple[str, ...] = KINDS) -> list[dict]:
    """Counts of each kind (an index into names) by width band, then in all."""
    rows = []
    for lo, hi in [*zip(BANDS, BANDS[1:]), (0.0, float("inf"))]:
        sel = (width >= lo) & (width < hi)
        rows.append({"width": band_name(lo, hi), **{k: int((sel & (kind == i)).sum()) for i, k in enumerate(names)}})
    return rows


def markdown(title: str, rows: list[dict], names: tuple[str, ...]) -> str:
    lines = [f"| {title} | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    return "\n".join([*lines, *(f"| {r['width']} | " + " | ".join(str(r[k]) for k in names) + " |" for r in rows)])


def montage(found: list[Found], path: Path, cols: int = 7, side: int = 160) -> None:
    """Each detection with its context (3.5 face widths), its box in red, its width and face score."""
    tiles = []
    for f in found:
        img = cv2.imread(str(f.scene.image))
        x1, y1, x2, y2 = (float(v) for v in f.box)
        scale = side / (max(x2 - x1, y2 - y1) * 3.5)
        m = np.float32([[scale, 0, side / 2 - (x1 + x2) / 2 * scale], [0, scale, side / 2 - (y1 + y2) / 2 * scale]])
        tile = cv2.warpAffine(img, m, (side, side), flags=cv2.INTER_CUBIC)
        h = side / 7
        cv2.rectangle(tile, (int(side / 2 - h), int(side / 2 - h)), (int(side / 2 + h), int(side / 2 + h)), (0, 0, 255))
        cv2.putText(tile, f"{x2 - x1:.0f} px, face {f.score:.2f}", (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    tiles += [np.zeros((side, side, 3), np.uint8)] * (-len(tiles) % cols)
    grid = np.vstack([np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)])
    cv2.imwrite(str(path), grid, [cv2.IMWRITE_JPEG_QUALITY, 88])


def detections(args) -> tuple[CrossVal, list[Scene], list[Found], tuple[float, float]]:
    """The detections studied (the file's, or --model's of the test split), their scenes in order,
    found again, and the file's rule."""
    from maskwatch.models.build import build_detector
    from maskwatch.models_config import DetectorConfig

    cv = CrossVal.load(args.oof, args.folds)
    rule = cv.rule()
    detector = build_detector(DetectorConfig(upscale=cv.upscale))
    scenes = read_test_split(args.scenes, "falsestudy: --model's false violations held out") if args.split == "test" \
        else [s for s in load_scenes(args.scenes) if split_of(s.stem) != "test"]
    if args.model:
        cv = held_out(detector, args.model, scenes)
    elif not cv.has_folds():
        raise StudyError(f"{args.oof}: no detection folds: made before out-of-fold files kept them")
    scenes = in_fold_order(scenes, cv.folds, list(dict.fromkeys(cv.tallies["all"].fold)))
    return cv, scenes, detections_in_order(detector, scenes), rule


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    ap.add_argument("oof", type=Path, help="out_of_fold.npz (training's, or "
                    "maskwatch.models.studies.levers --save-oof)")
    ap.add_argument("--scenes", type=Path, required=True, help="the scenes-dev folder it was measured on")
    ap.add_argument("--folds", type=int, help="only for files older than the fold count they now keep")
    ap.add_argument("--out", type=Path, help="write falsestudy.json and the montage of the last kind here")
    ap.add_argument("--split", choices=("train", "test"), default="train",
                    help="train: the file's own (out-of-fold) detections; test: --model's of the test split")
    ap.add_argument("--model", type=Path, help="with --split test: the model folder to run, raw p")
    args = ap.parse_args(argv)
    if (args.split == "test") != (args.model is not None):
        ap.error("--model goes with --split test, and --split test needs it")
    cv, scenes, found, rule = detections(args)
    kind = kinds(cv, found, rule)
    rows = table(np.asarray(cv.tallies["all"].width), kind)
    missed = table(*misses(cv, found, scenes, rule), MISSES)
    said = f"{args.split} split; rule p >= {rule[0]:.2f}, face >= {rule[1]:.2f}"
    print(markdown(f"detection width ({said})", rows, KINDS))
    print(markdown(f"annotated violator's width ({said})", missed, MISSES))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        report = {"split": args.split, "rule": list(rule), "rows": rows, "missed": missed}
        (args.out / "falsestudy.json").write_text(json.dumps(report, indent=2) + "\n")
        last = [found[i] for i in np.flatnonzero(kind == len(KINDS) - 1)]
        if last:
            montage(last, args.out / "false-on-no-annotated-face.jpg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
