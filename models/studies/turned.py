"""`python -m maskwatch.models.studies.turned [--scenes DIR ...] [--videos DIR ...] [-c CONFIG]`: how
well the classifier tells a bare face from a masked one as the face turns sideways.

The people the replay of real footage misses with a face the detector is sure of are people in
profile (docs/real-footage.md, "The people the replay misses"): bare faces at 30-45 px that the
model calls masked (calibrated p 0.05-0.6). Here each face's turn is read from YuNet's five
landmarks (the nose's distance from the eyes' midpoint, in eye distances: 0 looking at the camera,
about 1 and more in profile), found again on the face's own neighbourhood enlarged, and the faces
are tallied by how far they are turned:

- `--scenes`: the annotated faces of each set's non-test images at their annotated boxes (the test
  part is never read here): violations called violations, masked faces called violations;
- `--videos`: on labelled real footage at `--fps`, the faces the detector is sure of (the rule's
  face score) on people the labels call bare at that moment, face in view: the share called
  violations.

A study: nothing here is imported by the product.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from maskwatch.models.crops import crop_faces, cut_square, square_region

# |turn| buckets: facing the camera, a quarter turn, half, profile
BUCKETS = ((0.0, 0.3), (0.3, 0.6), (0.6, 1.0), (1.0, float("inf")))
LOOK = 160  # the side of the enlarged neighbourhood YuNet looks at again
AROUND = 2.2  # that neighbourhood: this many face widths around the face's centre
JUDGED_PX = 24  # a face this wide counts fully in the vote (events.judge_full_px)


def turn(landmarks: np.ndarray) -> float:
    """How far a face is turned, from YuNet's landmarks (right eye, left eye, nose, mouth corners as
    x, y pairs): the nose's horizontal distance from the eyes' midpoint, in eye distances."""
    eyes, nose = landmarks[0:4].reshape(2, 2), landmarks[4:6]
    spread = float(np.linalg.norm(eyes[1] - eyes[0]))
    return abs(float(nose[0] - eyes[:, 0].mean())) / max(spread, 1e-6)


def turn_of(net, image: np.ndarray, box) -> float | None:
    """The turn of the face in `box`, YuNet's landmarks found on its neighbourhood enlarged (None:
    YuNet finds no face there)."""
    try:
        patch = cv2.resize(cut_square(image, square_region(box, AROUND - 1)), (LOOK, LOOK))
    except ValueError:
        return None
    net.setInputSize((LOOK, LOOK))
    _, faces = net.detect(patch)
    if faces is None or not len(faces):
        return None
    centre = np.array([LOOK / 2, LOOK / 2])
    nearest = faces[np.argmin([np.linalg.norm(f[0:2] + f[2:4] / 2 - centre) for f in faces])]
    return turn(nearest[4:14])


def tally(turns: list[float | None], called: list[bool]) -> list[dict]:
    """Per turn bucket (then the faces YuNet found no landmarks for): how many faces, and the share
    called violations."""
    t = np.array([np.nan if x is None else x for x in turns], np.float64)
    c = np.asarray(called, bool)
    groups = [(f"{lo:g}-{hi:g}", (t >= lo) & (t < hi)) for lo, hi in BUCKETS] + [("no landmarks", np.isnan(t))]
    return [{"turn": name, "faces": int(m.sum()), "called_violation": round(float(c[m].mean()), 3) if m.any() else None}
            for name, m in groups]


def scene_faces(pipeline, net, root: Path) -> dict:
    """The non-test annotated faces of a scene set, by turn: bare ones (no mask, worn incorrectly
    apart) and masked ones, each with the share the model calls violations at its threshold."""
    from maskwatch.models.evaluation.voc import load_scenes, split_of

    turns: dict[str, list] = {"bare": [], "masked": []}
    called: dict[str, list] = {"bare": [], "masked": []}
    clf = pipeline.classifier
    for scene in load_scenes(root):
        if split_of(scene.stem) == "test":
            continue
        img = cv2.imread(str(scene.image))
        if img is None or not len(scene.boxes):
            continue
        p, _, _ = clf.predict_verdicts(crop_faces(img, scene.boxes, clf.input_size, clf.info.crop_margin))
        for box, bad, wrong, pv in zip(scene.boxes, scene.violation, scene.incorrect, p):
            if bad and wrong:
                continue
            kind = "bare" if bad else "masked"
            turns[kind].append(turn_of(net, img, box))
            called[kind].append(bool(pv >= pipeline.threshold))
    return {kind: tally(turns[kind], called[kind]) for kind in turns}


def video_faces(pipeline, net, videos: list[Path], labels: Path, fps: float) -> dict:
    """On labelled footage: the sure faces of people the labels call bare with their face in view,
    by turn, with the share called violations: all of them, those at least JUDGED_PX wide, and per
    video."""
    from maskwatch.models.evaluation.clipscore import holding
    from maskwatch.models.evaluation.facerecall import frames, visible_in
    from maskwatch.models.evaluation.videotruth import labelled_videos, load_truth, read_attributes

    rows: list[tuple[str, float, float | None, bool]] = []  # video, width, turn, called a violation
    for stem, video in labelled_videos(videos, labels):
        truth = load_truth(stem, labels, video.parent)
        # bare at that moment (the group clip's people put their masks on)
        bare = [(s.person, s.first, s.last) for s in read_attributes(labels / f"{stem}.attributes.csv")
                if s.face == "visible" and s.mask == "none"]
        visible = visible_in(truth)
        for n, img in frames(video, max(1, round(truth["fps"] / fps)), visible):
            (d,) = pipeline.run([img])
            for box, score, pv in zip(d.boxes, d.scores, d.p_no_mask):
                who = holding(box, visible[n]) if score >= pipeline.min_face_score else None
                if any(pid == who and a <= n <= b for pid, a, b in bare):
                    rows.append((stem, float(box[2] - box[0]), turn_of(net, img, box), bool(pv >= pipeline.threshold)))
    groups = {"all": rows, f">= {JUDGED_PX} px": [r for r in rows if r[1] >= JUDGED_PX]}
    groups.update({stem: [r for r in rows if r[0] == stem] for stem in dict.fromkeys(r[0] for r in rows)})
    return {name: tally([r[2] for r in group], [r[3] for r in group]) for name, group in groups.items()}


def main(argv: list[str] | None = None) -> int:
    from maskwatch.config import load_config
    from maskwatch.models.build import DEFAULT_DETECTOR, build_pipeline
    from maskwatch.paths import video_labels

    ap = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", type=Path, action="append", default=[], metavar="DIR")
    ap.add_argument("--videos", type=Path, action="append", default=[], metavar="DIR")
    ap.add_argument("--labels", type=Path)
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("-c", "--config", type=Path, help="the model and detector to measure (default: the shipped)")
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    pipeline = build_pipeline(cfg.detector, cfg.classifier)
    net = cv2.FaceDetectorYN.create(str(cfg.detector.model or DEFAULT_DETECTOR), "", (LOOK, LOOK), 0.2)
    out: dict = {"model": pipeline.classifier.info.version, "threshold": pipeline.threshold}
    for root in args.scenes:
        out[root.name] = scene_faces(pipeline, net, root)
    if args.videos:
        out["videos"] = video_faces(pipeline, net, args.videos, args.labels or video_labels(), args.fps)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
