"""`python -m maskwatch.models.studies.realidentity VIDEOS_DIR [--labels DIR]`: how well appearance
tells real people apart, on annotated real footage: the face embedding the identity registry uses
today, a clothing descriptor (the colours of the torso below the face) and both together; with
`--face-id SCENES_DIR`, also dlib's face-recognition ResNet (maskwatch.models.studies.dlibface,
centred on that scene set's faces), alone and joined to clothing.

Offline, at 5 frames a second: each frame goes through the pipeline; each face the rule calls a
violation is given to the annotated person whose head holds it (the real-footage scorer's match);
each person's faces are cut into runs of RUN consecutive ones (a violating track's prototype, as
in identitystats). Reported per descriptor: how many same-person and different-person prototype
pairs there are, their similarities' quantiles, the area under the ROC curve (the chance that a
same-person pair is more alike than a different-person pair) and the share of each above the
registry's default thresholds (identity_threshold, on_course_threshold: what a rejoin must clear).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from maskwatch.events_config import EventsConfig
from maskwatch.models.appearance import clothing, joined
from maskwatch.models.evaluation.clipscore import holding
from maskwatch.models.evaluation.facerecall import frames, people_in
from maskwatch.models.evaluation.videotruth import labelled_videos, load_truth
from maskwatch.models.studies.identitystats import separation

# what a rejoin must clear at the registry's default settings
THRESHOLDS = {"identity": EventsConfig().identity_threshold, "on_course": EventsConfig().on_course_threshold}


def sightings(pipeline, video: Path, truth: dict, fps: float, face_id=None) -> dict[str, dict[str, list[np.ndarray]]]:
    """descriptor -> person -> their violating faces' descriptors, in frame order. face_id: a
    face-recognition descriptor (image, box) -> unit vector or None, measured beside them."""
    step = max(1, round(truth["fps"] / fps))
    by_frame = people_in(truth)
    out: dict[str, dict[str, list[np.ndarray]]] = {k: {} for k in kinds(face_id is not None)}
    for n, img in frames(video, step, by_frame):
        (d,) = pipeline.run([img])
        if not len(d) or d.embeddings is None:
            continue
        flagged = d.violations(pipeline.threshold, pipeline.min_face_score)
        for i in np.flatnonzero(flagged):
            who = holding(d.boxes[i], by_frame[n])
            body = clothing(img, d.boxes[i])
            if who is None or body is None:
                continue
            for kind, v in described(d.embeddings[i], body, face_id and face_id(img, d.boxes[i])):
                out[kind].setdefault(who, []).append(v)
    return out


def kinds(face_id: bool) -> tuple[str, ...]:
    return ("face", "clothing", "both") + (("face-id", "face-id+clothing") if face_id else ())


def described(face: np.ndarray, body: np.ndarray, face_id: np.ndarray | None) -> list[tuple[str, np.ndarray]]:
    """(descriptor, vector) of one violating face: the registry's and, where given, face-id's."""
    out = [("face", face), ("clothing", body), ("both", joined(face, body))]
    if face_id is not None:
        out += [("face-id", face_id), ("face-id+clothing", joined(face_id, body))]
    return out


def auc(same: list[float], other: list[float]) -> float | None:
    if not same or not other:
        return None
    o = np.sort(np.asarray(other))
    return round(float(np.mean([np.searchsorted(o, s, "left") + 0.5 * (np.searchsorted(o, s, "right") -
                                                                          np.searchsorted(o, s, "left"))
                                for s in same]) / len(o)), 4)


def summary(same: list[float], other: list[float]) -> dict:
    def q(v, f):
        return round(float(np.quantile(v, f)), 3) if v else None
    row = {"same_pairs": len(same), "different_pairs": len(other), "auc": auc(same, other),
           "same_p10": q(same, 0.1), "same_median": q(same, 0.5), "different_median": q(other, 0.5),
           "different_p99": q(other, 0.99)}
    for name, t in THRESHOLDS.items():
        row[f"same_above_{name}"] = round(float(np.mean(np.asarray(same) >= t)), 3) if same else None
        row[f"different_above_{name}"] = round(float(np.mean(np.asarray(other) >= t)), 3) if other else None
    return row


def measure(pipeline, videos: Path, labels: Path, fps: float, face_id=None) -> dict:
    pooled: dict[str, tuple[list, list]] = {k: ([], []) for k in kinds(face_id is not None)}
    per_video = {}
    for stem, video in labelled_videos([videos], labels):
        people = sightings(pipeline, video, load_truth(stem, labels, videos), fps, face_id)
        per_video[stem] = {}
        for kind, by_person in people.items():
            same, other = separation(by_person)
            pooled[kind][0].extend(same)
            pooled[kind][1].extend(other)
            per_video[stem][kind] = summary(same, other)
    return {"all": {k: summary(*v) for k, v in pooled.items()}, "videos": per_video}


def main(argv: list[str] | None = None) -> int:
    from maskwatch.config import load_config
    from maskwatch.models.build import build_pipeline
    from maskwatch.paths import video_labels

    ap = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    ap.add_argument("videos", type=Path, help="folder of STEM.mp4 (with STEM.gt.txt here or in --labels)")
    ap.add_argument("--labels", type=Path, help="default: the repository's labels")
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--face-id", type=Path, metavar="SCENES_DIR",
                    help="also dlib's face-recognition ResNet (needs .[face-id]), centred on this scene set's faces")
    args = ap.parse_args(argv)
    cfg = load_config(None)
    face_id = None
    if args.face_id:
        from maskwatch.models.studies.dlibface import centred
        face_id = centred(args.face_id)
    result = measure(build_pipeline(cfg.detector, cfg.classifier), args.videos, args.labels or video_labels(),
                     args.fps, face_id)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
