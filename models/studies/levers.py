"""`python -m maskwatch.models.studies.levers MODEL_DIR`: what each inference-time lever does to a trained model.

Measured two ways, both with the real pipeline (detector included):
- out of fold, where the model folder keeps its fold models (`maskwatch train --keep-folds`):
  each fold's model on its own held-out scenes, pooled; the rule (threshold, minimum face score)
  is chosen on the pooled detections for each lever as training chooses it, so a lever may be
  shipped on this number;
- on the held-out test split with the model itself, at its stored rule (AP needs no rule). This
  one only describes: choosing a lever by it would spend the test split.

Levers: test-time flip (the mean p of the crop and its mirror), the crop margin (trained at the
model's own; the detector's boxes are tighter than the annotators'), several margins averaged,
the face-score part of the rule (off), the ensemble of the fold models with the final one
(test split only: each fold's scenes were trained on by the others), and, given a face-size
specialist's fold models (and final model), an input size per face size (maskwatch.models.studies.bysize).
The detector may be another YuNet file (maskwatch.models.studies.detector_tune): one per fold out of fold, each
having learnt from the other folds only (`--detector-folds`), and one for the test split
(`--detector`); `--as-trained-only` then measures the model as trained, no other lever.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

import cv2
import numpy as np

from maskwatch.models.classifier import MaskClassifier
from maskwatch.models.crops import crop_faces
from maskwatch.models.evaluation.evaluate import tally_scenes
from maskwatch.models.evaluation.heldout import read_test_split
from maskwatch.models.evaluation.metrics import SCORE_GRID, Tally, best_rule
from maskwatch.models.evaluation.voc import fold_of, load_scenes, split_of
from maskwatch.models.modelinfo import CLASSES_BY_SCHEMA, ModelError, ModelInfo
from maskwatch.models.pipeline import MaskPipeline
from maskwatch.models.studies import bysize
from maskwatch.models.studies.wrappers import CachedDetector, Calibrated, Ensemble, Flipped, Margin, Margins
from maskwatch.models.training.crossval import CrossVal
from maskwatch.models.training.oofreport import calibrate, three_class

log = logging.getLogger(__name__)

SIZE_BUCKETS = {"all": (0.0, float("inf")), ">=24px": (24.0, float("inf"))}


def levers(base, margin: float) -> dict:
    return {"as trained": base, "test-time flip": Flipped(base),
            "margin 0.05": Margin(base, 0.05), "margin 0.30": Margin(base, 0.30),
            "margin 0.30 + flip": Flipped(Margin(base, 0.30)),
            f"margins 0.05/{margin:.2f}/0.30 averaged": Margins(base, (0.05, margin, 0.30))}


def _tallies(detector, clf, scenes) -> dict:
    return tally_scenes(MaskPipeline(detector, clf, threshold=0.5, min_face_score=0.0), scenes, SIZE_BUCKETS)


def summarize(tallies: dict, rule: tuple[float, float] | None, min_score_off: bool = False) -> dict:
    """Violation F1 (at `rule`, or at the best rule for these detections) and AP, all faces and >= 24 px."""
    if rule is None:
        rule = best_rule(list(tallies.values()), score_grid=[0.0] if min_score_off else SCORE_GRID)
    elif min_score_off:
        rule = (rule[0], 0.0)
    summaries = {b: t.summary(*rule) for b, t in tallies.items()}
    return {"rule": [round(rule[0], 4), round(rule[1], 3)],  # as metadata.json stores them
            **{b: {"f1": x["violation_f1"], "ap": x["violation_ap"]} for b, x in summaries.items()}}


def fold_models(folds_dir: Path, folds: int, info: ModelInfo) -> dict[int, MaskClassifier]:
    """The fold models present in folds_dir (fold{k}.keras), as raw-p classifiers of info's input."""
    import keras

    out = {}
    for k in range(folds):
        path = folds_dir / f"fold{k}.keras"
        if path.is_file():
            model = keras.models.load_model(path, compile=False)
            classes = tuple(CLASSES_BY_SCHEMA[2 if model.output_shape[-1] == 3 else 1])
            raw = dataclasses.replace(info.raw_p(), classes=classes, raw={}, input_size=int(model.input_shape[1]))
            out[k] = MaskClassifier(raw, keras_model=model)
    return out


def _pooled(detectors: dict, classifiers: dict, folds: int, scenes) -> dict[str, Tally]:
    """Fold k's detector and classifier on fold k's scenes, pooled in the dict's order of folds."""
    pooled: dict = {}
    for k, clf in classifiers.items():
        held = [s for s in scenes if fold_of(s.stem, folds) == k]
        for b, t in _tallies(detectors[k], clf, held).items():
            pooled.setdefault(b, Tally(t.min_width, t.max_width)).extend(t, fold=k)
    return pooled


def out_of_fold(detectors: dict, models: dict[int, MaskClassifier], folds: int, margin: float, scenes,
                small: dict[int, MaskClassifier] | None = None, as_trained_only: bool = False) -> dict:
    """Each lever out of fold: fold k's model (and detector) on fold k's scenes, pooled over the
    folds present, the rule chosen on them; and the calibration fitted on the pooled "as trained"
    detections. With `small` (a face-size specialist's fold models), each route of maskwatch.models.studies.bysize
    too; with as_trained_only, no other lever."""
    if not models:
        return {}
    if small and sorted(small) != sorted(models):
        raise ModelError(f"the small-face model has folds {sorted(small)}, the model {sorted(models)}")
    results: dict = {"folds_measured": sorted(models), "folds": folds}
    names = ["as trained"] if as_trained_only else [*levers(next(iter(models.values())), margin), "face score off"]
    for name in names:
        lever = "as trained" if name == "face score off" else name
        pooled = _pooled(detectors, {k: levers(m, margin)[lever] for k, m in models.items()}, folds, scenes)
        results[name] = summarize(pooled, None, min_score_off=name == "face score off")
        if name == "as trained":
            results["_tallies"] = pooled  # for the calibration and --save-oof
        log.info("levers: out of fold, %s: %s", name, results[name])
    if small:
        # in the order "as trained" was pooled in: the same detections, row by row
        specialist = _pooled(detectors, {k: small[k] for k in models}, folds, scenes)
        results["the small-face model alone"] = summarize(specialist, None)
        for name, tallies in bysize.routes(results["_tallies"], specialist).items():
            results[name] = summarize(tallies, None)
            log.info("levers: out of fold, %s: %s", name, results[name])
    return results


def annotated(models: dict[int, MaskClassifier], folds: int, scenes) -> tuple[np.ndarray, np.ndarray]:
    """Out of fold at the annotators' boxes: verdicts 0/1/2 and the softmax rows (three-class models)."""
    labels, probs = [], []
    for k, m in models.items():
        for sc in (s for s in scenes if fold_of(s.stem, folds) == k):
            crops = crop_faces(cv2.imread(str(sc.image)), sc.boxes, m.input_size, m.info.crop_margin)
            p, share, _ = m.predict_verdicts(crops)
            probs.append(np.stack([1 - p, p * (1 - share), p * share], axis=1))
            labels.append(np.where(sc.incorrect, 2, np.where(sc.violation, 1, 0)))
    return np.concatenate(labels), np.concatenate(probs)


def held_out(detector, model_dir: Path, info: ModelInfo, scenes, folds: int = 0,
             folds_dir: Path | None = None, as_trained_only: bool = False) -> dict:
    """Each lever with the model itself on the test split, at the model's stored rule."""
    base = MaskClassifier.load(model_dir, backend="tflite")
    rule = (info.threshold, info.min_face_score)
    if as_trained_only:
        return {"as trained": summarize(_tallies(detector, base, scenes), rule)}
    results = {name: summarize(_tallies(detector, clf, scenes), rule)
               for name, clf in levers(base, info.crop_margin).items()}
    results["face score off"] = summarize(_tallies(detector, base, scenes), rule, min_score_off=True)
    members = list(fold_models(folds_dir or model_dir / "folds", folds, info).values()) if folds else []
    if members:
        raw_final = MaskClassifier(info.raw_p(), backend="tflite")
        ensemble = Calibrated(Ensemble([raw_final, *members]), info)
        name = f"ensemble of {len(members)} fold models + final"
        results[name] = summarize(_tallies(detector, ensemble, scenes), rule)
    return results


def held_out_routed(detector, model_dir: Path, small_dir: Path, scenes, oof: dict) -> dict:
    """The model and the face-size specialist on the test split, raw, alone and routed by face
    size, each at the rule chosen for it out of fold."""
    t_main, t_small = (_tallies(detector, bysize.raw(d), scenes) for d in (model_dir, small_dir))
    tallies = {"as trained": t_main, "the small-face model alone": t_small, **bysize.routes(t_main, t_small)}
    return {name: summarize(t, tuple(oof[name]["rule"])) for name, t in tallies.items()}


def table(results: dict, where: str) -> str:
    lines = [f"| lever ({where}) | rule | F1 all | F1 >= 24 px | AP all | AP >= 24 px |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        if not isinstance(r, dict) or "rule" not in r:
            continue
        lines.append(f"| {name} | p >= {r['rule'][0]}, face >= {r['rule'][1]} | {r['all']['f1']:.3f} | "
                     f"{r['>=24px']['f1']:.3f} | {r['all']['ap']:.3f} | {r['>=24px']['ap']:.3f} |")
    return "\n".join(lines)


def _upscale(text: str) -> tuple[float, ...]:
    from pydantic import ValidationError

    from maskwatch.models_config import DetectorConfig
    try:
        return DetectorConfig(upscale=tuple(float(x) for x in text.split(","))).upscale
    except (ValueError, ValidationError) as e:
        raise argparse.ArgumentTypeError(f"{text!r}: not factors in 0.25..4 ({e.__class__.__name__})") from None


def main(argv: list[str] | None = None) -> int:
    from maskwatch.models.build import build_detector
    from maskwatch.models_config import DetectorConfig

    ap = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--scenes", type=Path, required=True, help="scenes-dev (VOC)")
    ap.add_argument("--folds-from", type=Path, help="fold models folder (default MODEL_DIR/folds)")
    ap.add_argument("--folds", type=int, help="how many folds they were cut in (default: the model's training)")
    ap.add_argument("--small-folds-from", type=Path, metavar="DIR",
                    help="a face-size specialist's fold models (train --view-px --keep-folds): route small faces to it")
    ap.add_argument("--small-model", type=Path, metavar="DIR",
                    help="with --small-folds-from: the specialist's final model, for the test split")
    ap.add_argument("--by-size-only", action="store_true",
                    help="with --small-folds-from: measure the routes by face size, no other lever")
    ap.add_argument("--detector-folds", type=Path, nargs="+", metavar="ONNX",
                    help="out of fold, fold k's scenes seen by the k-th of these YuNet files (each one's "
                         "`detector_tune --fold k`)")
    ap.add_argument("--detector", type=Path, metavar="ONNX", help="the YuNet file for the test split "
                    "(and out of fold without --detector-folds; default: shipped)")
    ap.add_argument("--as-trained-only", action="store_true", help="the model as trained, no other lever")
    ap.add_argument("--no-held-out", action="store_true", help="out of fold only")
    ap.add_argument("--save-oof", type=Path, metavar="NPZ",
                    help="write the out-of-fold detections (as trained) for "
                    "maskwatch.models.training.recalibrate --oof")
    ap.add_argument("--out", type=Path, help="write levers.json (and the out-of-fold reliability.png) here")
    ap.add_argument("--upscale", type=_upscale, default=DetectorConfig().upscale, metavar="F[,F...]",
                    help="detector.upscale, e.g. 1,2,3 (default: the shipped detector's)")
    args = ap.parse_args(argv)
    if (args.small_model or args.by_size_only) and not args.small_folds_from:
        ap.error("--small-model and --by-size-only need --small-folds-from: each route's rule is chosen out of fold")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    info = ModelInfo.load(args.model_dir)
    folds = args.folds or int(info.raw.get("training", {}).get("settings", {}).get("folds", 0))
    if args.detector_folds and len(args.detector_folds) != folds:
        ap.error(f"--detector-folds: {len(args.detector_folds)} files for {folds} folds")
    only = args.by_size_only or args.as_trained_only
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)

    def built(weights: Path | None) -> CachedDetector:  # the shipped settings, but for the factors and file
        return CachedDetector(build_detector(DetectorConfig(upscale=args.upscale, model=weights)))

    detector = built(args.detector)
    detectors = {k: built(w) for k, w in enumerate(args.detector_folds)} if args.detector_folds else \
        dict.fromkeys(range(folds), detector)
    scenes = load_scenes(args.scenes)
    train_part = [s for s in scenes if split_of(s.stem) != "test"]
    wants_test = not (args.no_held_out or args.by_size_only) or (args.small_model and not args.no_held_out)
    test_part = read_test_split(args.scenes, "levers: each lever on the held-out split",
                                scenes=scenes) if wants_test else []
    models = fold_models(args.folds_from or args.model_dir / "folds", folds, info) if folds else {}
    small = fold_models(args.small_folds_from, folds, info) if args.small_folds_from and folds else None
    report = {"model": str(args.model_dir), "version": info.version,
              "out_of_fold": out_of_fold(detectors, models, folds, info.crop_margin, train_part, small, only)}
    if report["out_of_fold"]:
        oof = report["out_of_fold"]
        # what training's cross-validation would hold
        cv = CrossVal(folds, tallies=oof.pop("_tallies"), upscale=detector.detector.scales)
        threshold, min_score = oof["as trained"]["rule"]
        oof["calibration"] = calibrate(cv, args.out, min_score)[1]
        if all(len(m.info.classes) == 3 for m in models.values()):
            labels, probs = annotated(models, folds, train_part)
            cv.labels, cv.probs = [labels], [probs]
            oof["annotated"] = three_class(cv, threshold, args.out)
            if args.save_oof:  # in CrossVal's format: maskwatch.models.training.recalibrate --oof reads it
                cv.save(args.save_oof)
        print(table(report["out_of_fold"], f"out of fold, folds {report['out_of_fold']['folds_measured']} "
                                           f"of {folds}, rule chosen there"))
        print(json.dumps({k: report["out_of_fold"][k] for k in ("calibration", "annotated")
                          if k in report["out_of_fold"]}))
    if not (args.no_held_out or args.by_size_only):
        report["held_out"] = held_out(detector, args.model_dir, info, test_part, folds, args.folds_from,
                                      args.as_trained_only)
        print(table(report["held_out"], "held-out test split, the model's rule"))
    if args.small_model and report["out_of_fold"] and not args.no_held_out:
        report["held_out_by_size"] = held_out_routed(detector, args.model_dir, args.small_model, test_part,
                                                     report["out_of_fold"])
        print(table(report["held_out_by_size"], "held-out test split, raw, each at its out-of-fold rule"))
    if args.out:
        (args.out / "levers.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
