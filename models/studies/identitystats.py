"""`python -m maskwatch.models.studies.identitystats CLIPS_DIR [-c CONFIG] [--model DIR ...]`: how a
model's appearance embedding
separates people on the person clips, to choose `events.identity_threshold` for it.

Offline, frame by frame (no real time, no tracker): each clip's frames go through the pipeline,
each face the rule calls a violation is given to the annotated person whose box it overlaps
(IoU >= 0.3, clipscore's), and each person's violating sightings are cut into runs of RUN
consecutive ones, the way a violating track builds its prototype (the identity registry compares
violating tracks with earlier violators only). Reported per model: the cosine similarity between
runs of the same person (the lowest: what a rejoin must clear) and between runs of different
people in the same clip (the highest: what a rejoin must not clear), and the margin between them.
A new embedding (new weights) moves both; an identity threshold chosen for another model's may
fall outside its margin.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from maskwatch.geometry import iou_matrix
from maskwatch.models.evaluation.clipscore import IOU

RUN = 4  # sightings per prototype: about what a track has when it passes the vote


def person_embeddings(pipeline, clip_dir: Path, truth: dict) -> dict[str, list[np.ndarray]]:
    """Each annotated person's embeddings where the rule calls them a violation, in frame order."""
    by_frame: dict[int, list[tuple[str, list[float]]]] = {}
    for p in truth["persons"]:
        for frame, *box in p["boxes"]:
            by_frame.setdefault(int(frame), []).append((p["id"], box))
    cap, out, frame = cv2.VideoCapture(str(clip_dir / "clip.avi")), {}, 0
    try:
        while True:
            ok, img = cap.read()
            if not ok:
                break
            people = by_frame.get(frame, [])
            (d,) = pipeline.run([img])
            if people and len(d) and d.embeddings is not None:
                overlap = iou_matrix(d.boxes, [b for _, b in people])
                flagged = (d.p_no_mask >= pipeline.threshold) & (d.scores >= pipeline.min_face_score)
                for i, j in enumerate(overlap.argmax(axis=1)):
                    if overlap[i, j] >= IOU and flagged[i]:
                        out.setdefault(people[j][0], []).append(d.embeddings[i])
            frame += 1
    finally:
        cap.release()
    return out


def prototypes(embeddings: list[np.ndarray]) -> list[np.ndarray]:
    runs = [np.mean(embeddings[i:i + RUN], axis=0) for i in range(0, len(embeddings) - RUN + 1, RUN)]
    return [r / max(float(np.linalg.norm(r)), 1e-9) for r in runs]


def separation(people: dict[str, list[np.ndarray]]) -> tuple[list[float], list[float]]:
    """(same-person, different-person) cosine similarities between run prototypes."""
    protos = {k: prototypes(v) for k, v in people.items()}
    same, other = [], []
    keys = sorted(protos)
    for a, ka in enumerate(keys):
        pa = protos[ka]
        same += [float(pa[i] @ pa[j]) for i in range(len(pa)) for j in range(i + 1, len(pa))]
        for kb in keys[a + 1:]:
            other += [float(x @ y) for x in pa for y in protos[kb]]
    return same, other


def summarize(same: list[float], other: list[float]) -> dict:
    def q(v, f):
        return round(float(np.quantile(v, f)), 4) if v else None
    lo, hi = (min(same) if same else None), (max(other) if other else None)
    return {"same_person_pairs": len(same), "same_min": lo, "same_p01": q(same, 0.01),
            "different_pairs": len(other), "different_max": hi, "different_p99": q(other, 0.99),
            "margin": round(lo - hi, 4) if lo is not None and hi is not None else None,
            "midpoint": round((lo + hi) / 2, 4) if lo is not None and hi is not None else None}


def measure(pipeline, clips_root: Path) -> dict:
    same, other, per_clip = [], [], {}
    for truth_path in sorted(Path(clips_root).glob("*/truth.json")):
        truth = json.loads(truth_path.read_text())
        s, o = separation(person_embeddings(pipeline, truth_path.parent, truth))
        per_clip[truth_path.parent.name] = summarize(s, o)
        same += s
        other += o
    return {"all": summarize(same, other), "clips": per_clip}


def main(argv: list[str] | None = None) -> int:
    from maskwatch.config import load_config
    from maskwatch.models.build import build_pipeline

    ap = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    ap.add_argument("clips", type=Path, help="person clips (maskwatch evaluate --clips DIR --build)")
    ap.add_argument("-c", "--config", type=Path,
                    help="maskwatch.yaml whose detector and rule to use (default: embedded defaults)")
    ap.add_argument("--model", type=Path, action="append",
                    help="model folder (repeatable; default: the config's)")
    ap.add_argument("--per-clip", action="store_true", help="also each clip's numbers")
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    for model in args.model or [cfg.classifier.model_dir]:
        classifier = cfg.classifier.model_copy(update={"model_dir": model})
        result = measure(build_pipeline(cfg.detector, classifier), args.clips)
        print(json.dumps({str(model or "shipped"): result if args.per_clip else result["all"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
