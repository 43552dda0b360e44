"""`python -m maskwatch.models.studies.resolution VIDEOS_DIR [--labels DIR] [--fps 5]`: which
detector setting each camera resolution needs, with its cost in view, on annotated real footage.

Every labelled sequence is played at the camera rate `--fps` and shown to the detector as a camera
of each stream width would deliver it (640, 1280, 1920 pixels wide, its aspect kept; a sequence
narrower than a stream is left out of it: a stream never holds more than the footage), for each
setting of `detector.upscale` and `detector.max_side` in SETTINGS. Per size and setting: of the
faces the labels call visible, the share found at all and the share found with a face score >=
the rule's min_face_score (only those can become violations: the number that decides), and the
detector's milliseconds per frame (one thread, measured in this run: ratios between settings carry
to other machines, absolutes do not). The choice per size: the best share with a sure score; at
equal share (within 0.01) the cheaper one.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from maskwatch.models.evaluation.clipscore import holding
from maskwatch.models.evaluation.facerecall import frames, visible_in
from maskwatch.models.evaluation.videotruth import labelled_videos, load_truth

SIZES = (640, 1280, 1920)  # stream widths: a sub-stream, 720p, 1080p
# (upscale, max_side): the shipped default is ((1, 2, 3), 1280)
SETTINGS = (((1.0,), 1280), ((1.0,), 1920), ((1.0, 2.0), 1280), ((1.0, 2.0, 3.0), 1280),
            ((1.0, 2.0), 1920), ((1.0, 2.0, 3.0), 1920), ((1.0, 2.0), 2560))
SURE = 0.8  # the shipped model's min_face_score


def _fit(img: np.ndarray, width: int) -> tuple[np.ndarray, float] | None:
    """The frame as a stream `width` wide would hold it, and its scale; None when the footage is
    narrower (a stream never holds more than the footage)."""
    h, w = img.shape[:2]
    if w < width:
        return None
    s = width / w
    return (cv2.resize(img, (width, round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else img), s


def sample(videos: Path, labels: Path, fps: float) -> list[tuple[np.ndarray, dict]]:
    """(frame, {person: [box]} visible) of every labelled sequence at the camera rate."""
    out = []
    for stem, video in labelled_videos([videos], labels):
        truth = load_truth(stem, labels, videos)
        wanted = visible_in(truth)
        out += [(img, wanted[n]) for n, img in frames(video, max(1, round(truth["fps"] / fps)), wanted)]
    return out


def measure(detector_for, frames_: list, sizes=SIZES, settings=SETTINGS) -> list[dict]:
    rows = []
    for size in sizes:
        fitted = [(*f, people) for img, people in frames_ if (f := _fit(img, size)) is not None]
        for upscale, max_side in settings:
            det = detector_for(upscale, max_side)
            faces = found = sure = 0
            spent = 0.0
            for img, s, people in fitted:
                t0 = time.perf_counter()
                (d,) = det.detect_many([img])
                spent += time.perf_counter() - t0
                boxes = d.boxes / s  # back to the labels' pixels
                held = {holding(b, people) for b in boxes} - {None}
                held_sure = {holding(b, people) for b, sc in zip(boxes, d.scores) if sc >= SURE} - {None}
                faces += len(people)
                found += len(held & set(people))
                sure += len(held_sure & set(people))
            rows.append({"size": f"{size} wide", "upscale": list(upscale), "max_side": max_side,
                         "faces": faces, "found": round(found / max(1, faces), 3),
                         "sure": round(sure / max(1, faces), 3), "ms": round(1000 * spent / max(1, len(fitted)), 1)})
    return rows


def choose(rows: list[dict]) -> dict[str, dict]:
    """Per size: the best share found sure; within 0.01 of it, the cheapest."""
    out = {}
    for size in dict.fromkeys(r["size"] for r in rows):
        mine = [r for r in rows if r["size"] == size]
        best = max(r["sure"] for r in mine)
        out[size] = min((r for r in mine if r["sure"] >= best - 0.01), key=lambda r: r["ms"])
    return out


def table(rows: list[dict], chosen: dict[str, dict]) -> str:
    lines = ["| stream | upscale | max_side | faces | found | found, score >= 0.8 | ms/frame |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        mark = "**" if chosen[r["size"]] is r else ""
        lines.append(f"| {r['size']} | {mark}{r['upscale']}{mark} | {r['max_side']} | {r['faces']} | "
                     f"{r['found']:.3f} | {mark}{r['sure']:.3f}{mark} | {r['ms']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from maskwatch.config import parse_config
    from maskwatch.models.build import build_detector
    from maskwatch.paths import video_labels

    ap = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    ap.add_argument("videos", type=Path, help="folder of STEM.mp4 (with STEM.gt.txt here or in --labels)")
    ap.add_argument("--labels", type=Path, help="default: the repository's labels")
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--out", type=Path, help="write resolution.json here")
    args = ap.parse_args(argv)
    base = parse_config({}, env={}).detector

    def detector_for(upscale, max_side):
        return build_detector(base.model_copy(update={"upscale": upscale, "max_side": max_side}), threads=1)

    rows = measure(detector_for, sample(args.videos, args.labels or video_labels(), args.fps))
    chosen = choose(rows)
    print(table(rows, chosen))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "resolution.json").write_text(json.dumps({"rows": rows, "chosen": chosen}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
