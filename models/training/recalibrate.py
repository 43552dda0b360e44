"""`python -m maskwatch.models.training.recalibrate MODEL_DIR`: calibrate a trained model folder again from the
out-of-fold numbers its training kept (`out_of_fold.npz`), with today's calibration methods.

The rule (threshold, minimum face score) is chosen again from the same detections, exactly as
training chose it, and the threshold is re-expressed on the new calibrated scale; the weights are
not touched. `metadata.json` gets the new `calibration`, `threshold`, `rule_detector` (the detector
setting those detections came from) and a new `version` (`recalibrated_from` keeps the weights'
own); `reliability.png` is redrawn, and so is the confusion matrix.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np

from maskwatch.models.modelinfo import METADATA, ModelError, ModelInfo
from maskwatch.models.training.crossval import CrossVal, rule_detector
from maskwatch.models.training.oofreport import calibrate, three_class
from maskwatch.models.training.train import OOF_FILE


def recalibrate(model_dir: Path, oof: Path | None = None, source: str = "") -> dict:
    """`oof`: out-of-fold numbers from elsewhere (maskwatch.models.studies.levers --save-oof: fold models of the
    same recipe), copied into the model folder; `source` says where they came from."""
    info = ModelInfo.load(model_dir)
    if oof is not None:
        shutil.copyfile(oof, model_dir / OOF_FILE)
    if not (model_dir / OOF_FILE).is_file():
        raise ModelError(f"{model_dir / OOF_FILE}: not found (models trained before it was kept cannot be "
                         "recalibrated)")
    # a file from another run's fold models (--oof) says its own folds; an older one was the model's training's
    cv = CrossVal.load(model_dir / OOF_FILE, int(info.raw["training"]["settings"]["folds"]))
    threshold, min_score = cv.rule()
    chosen, report = calibrate(cv, model_dir, min_score)
    meta = json.loads((model_dir / METADATA).read_text())
    meta["calibration"] = report
    meta["rule_detector"] = rule_detector(cv)
    # another rule and map decide otherwise with the same weights: rows must tell the two apart
    meta["recalibrated_from"] = meta.get("recalibrated_from") or meta["version"]
    meta["version"] = f"{meta['recalibrated_from']}-r{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}"
    if source:
        meta["calibration"]["rule_and_calibration_from"] = source
    meta["calibration"]["out_of_fold_folds"] = cv.folds  # training's own settings say how the weights were made
    meta["threshold"] = round(float(chosen.apply(np.array([threshold]))[0]), 4)
    meta["min_face_score"] = round(min_score, 3)
    meta.setdefault("metrics", {}).update(out_of_fold=cv.summary(threshold, min_score),
                                          **three_class(cv, threshold, model_dir))
    (model_dir / METADATA).write_text(json.dumps(meta, indent=2))
    ModelInfo.load(model_dir)  # what we wrote must load
    return {"model": str(model_dir), "raw_rule": [threshold, min_score], "threshold": meta["threshold"],
            "rule_upscale": list(cv.upscale),
            "method": chosen.method, "held_out_ece": report["held_out_ece"],
            "ece_before": report["ece_before"], "ece_after": report["ece_after"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--oof", type=Path, help="out-of-fold numbers from maskwatch.models.studies.levers --save-oof")
    ap.add_argument("--source", default="", help="where --oof came from, kept in metadata.json")
    args = ap.parse_args(argv)
    print(json.dumps(recalibrate(args.model_dir, args.oof, args.source)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
