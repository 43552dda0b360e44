"""`maskwatch evaluate`: detection quality on VOC-annotated scenes, by face size, beside the seed."""
from __future__ import annotations

import json
from pathlib import Path

import cv2

from maskwatch.models.evaluation.heldout import read_test_split
from maskwatch.models.evaluation.metrics import CI_LEVEL, Tally
from maskwatch.models.evaluation.voc import Scene, load_scenes, split_of

BUCKETS = {"all": (0, float("inf")), ">=24px": (24, float("inf")), "<16px": (0, 16),
           "16-24px": (16, 24), "24-48px": (24, 48), ">=48px": (48, float("inf"))}
COLUMNS = ("face_recall", "violation_precision", "violation_recall", "violation_f1", "violation_ap", "mask_ap")


def select_scenes(root: Path, split: str, purpose: str = "maskwatch evaluate") -> list[Scene]:
    """One split of a scenes folder, or all; the test split is read through heldout (said, counted,
    refused inside a selection loop)."""
    scenes = load_scenes(root)
    if split == "test":
        return read_test_split(root, purpose, scenes=scenes)
    if split == "all":  # holds the test images: counted as a read of them
        read_test_split(root, purpose, scenes=scenes)
        return scenes
    return [s for s in scenes if split_of(s.stem) == split]


def tally_scenes(pipeline, scenes: list[Scene], buckets: dict = BUCKETS) -> dict[str, Tally]:
    """Run the pipeline over annotated scenes, one Tally per size bucket."""
    tallies = {name: Tally(lo, hi) for name, (lo, hi) in buckets.items()}
    for sc in scenes:
        img = cv2.imread(str(sc.image))
        if img is None:
            raise ValueError(f"{sc.image}: unreadable image")
        det = pipeline.run([img])[0]
        for t in tallies.values():
            t.add(det.boxes, det.scores, det.p_no_mask, sc.boxes, sc.violation)
    return tallies


def evaluate(pipeline, scenes: list[Scene]) -> dict:
    """Metrics per size bucket and per-image stage times for one pipeline. `_pr` (the PR curve) and
    `_counts` (each image's violation counts per bucket, for a paired comparison of two models on
    the same images) are for the caller, not for JSON."""
    tallies = tally_scenes(pipeline, scenes)
    rule = (pipeline.threshold, getattr(pipeline, "min_face_score", 0.0))
    return {"images": len(scenes), "threshold": rule[0], "min_face_score": rule[1],
            "buckets": {k: t.summary(*rule) for k, t in tallies.items()},
            "time": pipeline.times.per_image_ms(), "_pr": tallies["all"].pr_curve(),
            "_counts": {k: t.image_counts(*rule) for k, t in tallies.items()}}


def f1_interval_cell(bucket: dict) -> str:
    lo, hi = bucket["violation_f1_ci"]
    return f"{lo:.3f}-{hi:.3f}"


def report(results: dict[str, dict], out: Path | None) -> str:
    """A Markdown table (printed, and pasted into the docs) plus report.json and a PR-curve PNG."""
    for r in results.values():
        r.pop("_counts", None)  # for a paired comparison (maskwatch.models.evaluation.compare), not for the report
    lines = ["| pipeline | faces | " + " | ".join(COLUMNS) + f" | violation F1, {CI_LEVEL:.0%} interval over images"
             " | detect ms | classify ms |",
             "|---" * (len(COLUMNS) + 5) + "|"]
    for name, r in results.items():
        for bucket in ("all", ">=24px"):
            b = r["buckets"][bucket]
            lines.append(f"| {name} | {bucket} | " + " | ".join(f"{b[c]:.3f}" for c in COLUMNS)
                         + f" | {f1_interval_cell(b)} | {r['time']['detect_ms']} | {r['time']['classify_ms']} |")
    lines += ["", "| pipeline | size | faces_gt | face_recall | violations_gt | violation_f1 | interval"
                  " | violation_ap |",
              "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        for bucket in ("<16px", "16-24px", "24-48px", ">=48px"):
            b = r["buckets"][bucket]
            lines.append(f"| {name} | {bucket} | {b['faces_gt']} | {b['face_recall']:.3f} | {b['violations_gt']} | "
                         f"{b['violation_f1']:.3f} | {f1_interval_cell(b)} | {b['violation_ap']:.3f} |")
    table = "\n".join(lines)
    if out:
        from maskwatch.models.evaluation.plots import pr_curves

        out.mkdir(parents=True, exist_ok=True)
        curves = {name: r.pop("_pr") for name, r in results.items()}
        pr_curves(curves, out / "pr_curve.png", "violations, all faces")
        (out / "report.json").write_text(json.dumps(results, indent=2))
        (out / "report.md").write_text(table + "\n")
    else:
        for r in results.values():
            r.pop("_pr", None)
    return table
