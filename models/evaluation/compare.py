"""`maskwatch evaluate --compare OLD NEW`: two model folders side by side on the held-out scenes,
on the operators' reviewed faces and on the person clips; NEW is promotable only when it is worse
on none of them.

The clips are there because frame-level scores cannot see identity: a model's appearance
embedding is new with its weights, and one that splits a person into two tracks gives a
duplicate violation while scoring as well as ever on single frames (a three-verdict candidate did).
Annotated real footage (`--videos`) is there because scenes are still photos: a candidate trained
on three times the scenes won on both sets' held-out scenes and found five fewer of 47 unmasked
people on real CCTV footage (2026-12-07).

Promotion (`--promote DIR`) copies NEW into the folder the workers load (classifier.model_dir):
they pick it up on restart, and its version goes on every violation row from then on. The folder
it replaces is kept beside it as DIR.previous.
"""
from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from maskwatch.models.classifier import MaskClassifier
from maskwatch.models.crops import crop_faces
from maskwatch.models.evaluation.evaluate import BUCKETS, evaluate
from maskwatch.models.evaluation.metrics import CI_LEVEL, f1_gain_interval, f1_of
from maskwatch.models.evaluation.reviewset import Reviewed
from maskwatch.models.modelinfo import ModelInfo
from maskwatch.models.pipeline import MaskPipeline

GAIN_BUCKETS = ("all", ">=24px")


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


def compare(old: Path, new: Path, detector, scenes, reviews: list[Reviewed] | None,
            play_clips: Callable[[str, Path], dict] | None = None, more_scenes: dict | None = None,
            play_videos: Callable[[str, Path], dict] | None = None) -> dict:
    """Both models through the same detector; `promotable` (and `worse_on`, why not) says whether NEW
    may replace OLD.
    `play_clips(name, model_dir)`: the person-level score (maskwatch.models.evaluation.clipscore.Score.row) of the clips
    played with that model (the composition root runs them through the real pipeline).
    `more_scenes`: further held-out scene sets by name (scenes-extra's test part), each scored apart.
    `play_videos(name, model_dir)`: the person-level score over annotated real footage played with
    that model through the run path (maskwatch.commands.videos): the yardstick a site sees."""
    out, counts = {}, {}
    for name, folder in (("old", old), ("new", new)):
        clf = MaskClassifier.load(folder, backend="tflite")
        result = {"model": str(folder), "version": clf.info.version, "classes": list(clf.info.classes)}
        for set_name, part in ((None, scenes), *(more_scenes or {}).items()):
            if not part:
                continue
            r = evaluate(MaskPipeline(detector, clf), part)
            counts.setdefault(set_name, {})[name] = r["_counts"]
            buckets = {k: r["buckets"][k] for k in BUCKETS}  # F1 by face size too
            if set_name is None:
                result["scenes"] = buckets
            else:
                result.setdefault("more_scenes", {})[set_name] = buckets
        if reviews is not None:
            result["reviews"] = score_reviews(clf, reviews)
        if play_clips is not None:
            result["clips"] = play_clips(name, folder)
        if play_videos is not None:
            result["videos"] = play_videos(name, folder)
        out[name] = result
    for set_name, c in counts.items():
        o, n = ((out[w]["scenes"] if set_name is None else out[w]["more_scenes"][set_name]) for w in ("old", "new"))
        gain = {k: scenes_gain(o[k], n[k], c["old"][k], c["new"][k]) for k in GAIN_BUCKETS}
        if set_name is None:
            out["scenes_gain"] = gain
        else:
            out.setdefault("more_scenes_gain", {})[set_name] = gain
    if len(counts) > 1:
        out["pooled"] = pooled_gain(counts)
    gains = {"scenes": out["scenes_gain"]} if "scenes_gain" in out else {}
    out["worse_on"] = worse_on(out["old"], out["new"], out.get("pooled"), {**gains, **out.get("more_scenes_gain", {})})
    out["promotable"] = not out["worse_on"]
    return out


def pooled_gain(counts: dict) -> dict:
    """Violation F1 (all faces) over every held-out set's images together, each model's, and NEW's
    gain with its paired interval: with several sets, what promotion goes by."""
    old, new = (np.concatenate([c[w]["all"] for c in counts.values()]) for w in ("old", "new"))
    lo, hi = f1_gain_interval(old, new)
    f1_old, f1_new = (round(float(f1_of(x.sum(axis=0))), 3) for x in (old, new))
    return {"images": len(old), "old_f1": f1_old, "new_f1": f1_new, "gain": round(f1_new - f1_old, 3),
            "interval": [round(lo, 3), round(hi, 3)]}


def scenes_gain(old: dict, new: dict, old_counts, new_counts) -> dict:
    """NEW's held-out F1 less OLD's, with its paired interval over the images: the promotion rule
    stays "worse on nothing", and this says whether a difference is more than these images' noise."""
    lo, hi = f1_gain_interval(old_counts, new_counts)
    return {"violation_f1": round(new["violation_f1"] - old["violation_f1"], 3),
            "interval": [round(lo, 3), round(hi, 3)], "beyond_noise": not lo <= 0.0 <= hi}


# (where, part, bucket, number, its name, higher is better): NEW may lose on none of these
CRITERIA = (
    ("held-out scenes", "scenes", "all", "violation_f1", "violation F1", True),
    ("reviewed faces", "reviews", None, "violation_f1", "violation F1", True),
    ("person clips", "clips", None, "recall", "violators found", True),
    ("person clips", "clips", None, "precision", "precision", True),
    ("person clips", "clips", None, "duplicates", "duplicate violations", False),
    ("real footage", "videos", None, "found", "unmasked people found", True),
    ("real footage", "videos", None, "duplicates", "duplicate violations", False),
    ("real footage", "videos", None, "false", "false alarms", False),
)


def worse_on(old: dict, new: dict, pooled: dict | None = None, set_gains: dict | None = None) -> list[str]:
    """What NEW is worse on, where both were measured: one line each. With several held-out scene
    sets (`pooled`: pooled_gain's, `set_gains`: each set's gains by name), the scenes' criterion is
    the F1 over all their images together, and no set may lose beyond its own images' noise: on a
    hundred images a point of F1 is noise, and asking each small set for no loss at all refuses an
    equal model about half the time (the rule fixed on 2026-12-07, before either test part was read
    with it)."""
    out = []
    for where, part, bucket, number, name, higher in CRITERIA:
        if part not in old or part not in new or (pooled and part == "scenes"):
            continue
        o, n = ((r[part][bucket] if bucket else r[part])[number] for r in (old, new))
        if (n < o) if higher else (n > o):
            out.append(f"{where}: {name} {n} {'<' if higher else '>'} {o}")
    if not pooled:
        return out
    if pooled["new_f1"] < pooled["old_f1"]:
        out.insert(0, f"held-out scenes, every set's images together: violation F1 {pooled['new_f1']} < "
                      f"{pooled['old_f1']}")
    for set_name, gain in (set_gains or {}).items():
        lo, hi = gain["all"]["interval"]
        if hi < 0:
            out.append(f"held-out {set_name}: violation F1 lower beyond its images' noise ({lo:+.3f} to {hi:+.3f})")
    return out


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
    for key, gain in result.get("scenes_gain", {}).items():
        lo, hi = gain["interval"]
        lines.append(f"| held-out scenes, {key} faces: violation F1 new - old, {CI_LEVEL:.0%} interval over images | | "
                     f"{gain['violation_f1']:+.3f} ({lo:+.3f} to {hi:+.3f}: "
                     f"{'beyond' if gain['beyond_noise'] else 'within'} these images' noise) |")
    if "scenes" in result["old"]:
        for key in (k for k in result["old"]["scenes"] if k not in ("all", ">=24px")):
            o, n = result["old"]["scenes"][key], result["new"]["scenes"][key]
            lines.append(f"| held-out scenes, {key} faces ({o['violations_gt']} violations): violation F1 | "
                         f"{o['violation_f1']:.3f} | {n['violation_f1']:.3f} |")
    lines += _more_scenes_rows(result)
    if "pooled" in result:
        pooled = result["pooled"]
        lo, hi = pooled["interval"]
        lines.append(f"| held-out scenes, every set's {pooled['images']} images together: violation F1 (new - old, "
                     f"{CI_LEVEL:.0%} interval) | {pooled['old_f1']:.3f} | {pooled['new_f1']:.3f} "
                     f"({pooled['gain']:+.3f}: {lo:+.3f} to {hi:+.3f}) |")
    for part, label in (("clips", "person clips"), ("videos", "real footage")):
        if part in result["old"]:
            for col in ("violators", "found", "false", "duplicates", "recall", "precision"):
                lines.append(f"| {label}: {col} | {result['old'][part][col]} | {result['new'][part][col]} |")
    lines.append("")
    lines.append("promotable: NEW is worse on none" if result["promotable"]
                 else "not promotable: NEW is worse on " + "; ".join(result["worse_on"]))
    return "\n".join(lines)


def _more_scenes_rows(result: dict) -> list[str]:
    """Each further held-out set's F1 by face size, and its gain with the interval over its images."""
    lines = []
    for set_name, o_buckets in result["old"].get("more_scenes", {}).items():
        n_buckets = result["new"]["more_scenes"][set_name]
        for key, o in o_buckets.items():
            n = n_buckets[key]
            cells = [" / ".join(f"{b[c]:.3f}" for c in ("violation_precision", "violation_recall", "violation_f1",
                                                         "violation_ap")) for b in (o, n)]
            lines.append(f"| held-out {set_name}, {key} faces ({o['violations_gt']} violations): violation "
                         f"precision / recall / F1 / AP | {cells[0]} | {cells[1]} |")
        for key, gain in result.get("more_scenes_gain", {}).get(set_name, {}).items():
            lo, hi = gain["interval"]
            lines.append(f"| held-out {set_name}, {key} faces: violation F1 new - old, {CI_LEVEL:.0%} interval | | "
                         f"{gain['violation_f1']:+.3f} ({lo:+.3f} to {hi:+.3f}) |")
    return lines


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
