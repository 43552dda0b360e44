"""`python -m maskwatch.models.studies.calibrationap MODEL_DIR [MODEL_DIR...]`: does the calibration
map cost the ranking? Violation AP of each model's out-of-fold detections (out_of_fold.npz) ranked
by the raw p(violation) and by the served, calibrated one, with how many distinct scores each
leaves (an isotonic map's flat stretches tie faces that the raw p told apart), for all faces and
for faces >= 24 px.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from maskwatch.models.calibration import Calibration
from maskwatch.models.evaluation.metrics import average_precision
from maskwatch.models.modelinfo import ModelInfo


def measure(model_dir: Path) -> dict:
    info = ModelInfo.load(model_dir)
    cal = Calibration.from_meta(info.raw.get("calibration"))
    data = np.load(model_dir / "out_of_fold.npz")
    out = {"model": info.version, "calibration": cal.method}
    for bucket in ("all", ">=24px"):
        conf, p = data[f"{bucket}/conf"].astype(np.float64), data[f"{bucket}/p_no_mask"].astype(np.float64)
        hit, n = data[f"{bucket}/on_violation"].astype(bool), int(data[f"{bucket}/violations_gt"])
        served = cal.apply(p).astype(np.float64)
        out[bucket] = {"detections": int(len(p)), "violations": n,
                       "ap_raw": round(average_precision(conf * p, hit, n), 4),
                       "ap_calibrated": round(average_precision(conf * served, hit, n), 4),
                       "distinct_raw": int(len(np.unique(np.round(conf * p, 6)))),
                       "distinct_calibrated": int(len(np.unique(np.round(conf * served, 6))))}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=Path)
    for m in ap.parse_args(argv).models:
        print(json.dumps(measure(m)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
