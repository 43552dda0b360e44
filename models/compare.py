"""`maskwatch evaluate --compare OLD NEW`: two model folders side by side on the held-out scenes
and on the operators' reviewed faces; NEW is promotable only when it is worse on neither.

Promotion (`--promote DIR`) copies NEW into the folder the workers load (classifier.model_dir):
they pick it up on restart, and its version goes on every violation row from then on. The folder
it replaces is kept beside it as DIR.previous.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from models.classifier import MaskClassifier, ModelInfo
from models.crops import crop_faces
from models.evaluate import BUCKETS, evaluate
from models.pipeline import MaskPipeline
from models.reviewset import Reviewed


def score_reviews(classifier: MaskClassifier, faces: list[Reviewed]) -> dict:
    """Violation precision / recall / F1 on reviewed faces, at the model's own threshold."""
    if not faces:
        return {"faces": 0, "violation_precision": 0.0, "violation_recall": 0.0, "violation_f1": 0.0, "accuracy": 0.0}
    size, margin = classifier.input_size, classifier.info.crop_margin
    crops = np.concatenate([crop_faces(f.image, np.array([f.box]), size, margin) for f in faces])
    flagged = classifier.predict(crops)[0] >= classifier.info.threshold
    truth = np.array([f.violation for f in faces])
    tp, fp, fn = int((flagged & truth).sum()), int((flagged & ~truth).sum()), int((~flagged & truth).sum())
    prec, rec = (tp / (tp + fp) if tp + fp else 0.0), (tp / (tp + fn) if tp + fn else 0.0)
    return {"faces": len(faces), "violations": int(truth.sum()), "violation_precision": round(prec, 3),
            "violation_recall": round(rec, 3),
            "violation_f1": round(2 * prec * rec / (prec + rec), 3) if prec + rec else 0.0,
            "accuracy": round(float((flagged == truth).mean()), 3)}


def compare(old: Path, new: Path, detector, scenes, reviews: list[Reviewed] | None) -> dict:
    """Both models through the same detector; `verdict` says whether NEW may replace OLD."""
    out = {}
    for name, folder in (("old", old), ("new", new)):
        clf = MaskClassifier.load(folder, backend="tflite")
        result = {"model": str(folder), "version": clf.info.version, "classes": list(clf.info.classes)}
        if scenes:
            r = evaluate(MaskPipeline(detector, clf), scenes)
            r.pop("_pr", None)
            result["scenes"] = {k: r["buckets"][k] for k in BUCKETS}  # F1 by face size too
        if reviews is not None:
            result["reviews"] = score_reviews(clf, reviews)
        out[name] = result
    worse = [f"{where}: violation F1 {_f1(out['new'], part, key)} < {_f1(out['old'], part, key)}"
             for where, part, key in (("held-out scenes", "scenes", "all"), ("reviewed faces", "reviews", None))
             if part in out["old"] and _f1(out["new"], part, key) < _f1(out["old"], part, key)]
    out["promotable"], out["worse_on"] = not worse, worse
    return out


def _f1(result: dict, part: str, key: str | None) -> float:
    return result[part][key]["violation_f1"] if key else result[part]["violation_f1"]


def table(result: dict) -> str:
    lines = ["| | old | new |", "|---|---|---|",
             f"| version | {result['old']['version']} | {result['new']['version']} |",
             f"| classes | {len(result['old']['classes'])} | {len(result['new']['classes'])} |"]
    for part, keys in (("scenes", ("all", ">=24px")), ("reviews", (None,))):
        if part not in result["old"]:
            continue
        for key in keys:
            o = result["old"][part][key] if key else result["old"][part]
            n = result["new"][part][key] if key else result["new"][part]
            label = f"held-out scenes, {key} faces" if key else f"reviewed faces ({o['faces']})"
            for col in ("violation_precision", "violation_recall", "violation_f1"):
                lines.append(f"| {label}: {col.replace('violation_', 'violation ')} | {o[col]:.3f} | {n[col]:.3f} |")
    if "scenes" in result["old"]:
        for key in (k for k in result["old"]["scenes"] if k not in ("all", ">=24px")):
            o, n = result["old"]["scenes"][key], result["new"]["scenes"][key]
            lines.append(f"| held-out scenes, {key} faces ({o['violations_gt']} violations): violation F1 | "
                         f"{o['violation_f1']:.3f} | {n['violation_f1']:.3f} |")
    lines.append("")
    lines.append("promotable: NEW is worse on neither" if result["promotable"]
                 else "not promotable: NEW is worse on " + "; ".join(result["worse_on"]))
    return "\n".join(lines)


def promote(new: Path, target: Path) -> Path:
    """Copy NEW into `target` (atomically replacing it; the old one stays as target.previous)."""
    ModelInfo.load(new)  # only a model that loads
    target = Path(target)
    staging = target.with_name(target.name + ".incoming")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(new, staging)
    previous = target.with_name(target.name + ".previous")
    if target.exists():
        shutil.rmtree(previous, ignore_errors=True)
        target.rename(previous)
    staging.rename(target)
    return target
