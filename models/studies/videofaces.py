"""`python -m maskwatch.models.studies.videofaces VIDEOS_DIR... [--weights FILE.onnx ...] [--labels DIR]
[--fps 5]`: how sure each YuNet file is of the faces real cameras send.

Only a face the detector scores at the model's minimum face score (0.8 shipped) votes; the café
terrace's blurred, compressed faces are found at 0.3-0.88 and never do. A detector fine-tuned on
video-like frames (maskwatch.models.studies.detector_tune --video-share) should be surer of them
without being sure of what is no face. Per labelled video read at `--fps`, for each detector file
(the shipped one first, at the shipped detector setting): the faces the labels call visible, how
many of them it finds at all, how many it is sure of, their mean score, and its sure detections
held by no labelled person (a face on a poster, the back of a head, or someone the labels left out:
on a sequence that labels every person, a false face). Measured, not shipped: docs/real-footage.md
("A detector taught compressed video").
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from maskwatch.models.evaluation.clipscore import holding


def frame_rows(boxes: np.ndarray, scores: np.ndarray, visible: dict[str, list], present: dict[str, list],
               sure: float) -> tuple[list[float], int]:
    """Each visible face's best detection score (0: not found), and how many sure detections are
    held by no labelled person of the frame."""
    best = dict.fromkeys(visible, 0.0)
    nobody = 0
    for box, score in zip(boxes, scores):
        whose = holding(box, present)
        if whose in best:
            best[whose] = max(best[whose], float(score))
        elif whose is None and score >= sure:
            nobody += 1
    return list(best.values()), nobody


def summarize(scores: list[float], nobody: int, sure: float) -> dict:
    s = np.asarray(scores, np.float32)
    if not len(s):
        return {"faces": 0, "sure_on_nobody": nobody}
    return {"faces": len(s), "found": int((s > 0).sum()), "sure": int((s >= sure).sum()),
            "sure_share": round(float((s >= sure).mean()), 3), "mean_score": round(float(s.mean()), 3),
            "sure_on_nobody": nobody}


def measure(detector, videos: list[Path], labels: Path, fps: float, sure: float) -> dict:
    from maskwatch.models.evaluation.facerecall import frames, people_in, visible_in
    from maskwatch.models.evaluation.videotruth import labelled_videos, load_truth

    out = {}
    for stem, video in labelled_videos(videos, labels):
        truth = load_truth(stem, labels, video.parent)
        visible, present = visible_in(truth), people_in(truth)
        scores, nobody = [], 0
        for n, img in frames(video, max(1, round(truth["fps"] / fps)), present):
            found = detector.detect(img)
            best, none = frame_rows(found.boxes, found.scores, visible.get(n, {}), present[n], sure)
            scores += best
            nobody += none
        out[stem] = summarize(scores, nobody, sure)
    return out


def main(argv: list[str] | None = None) -> int:
    from maskwatch.config import load_config
    from maskwatch.models.build import DEFAULT_DETECTOR, build_detector, build_pipeline
    from maskwatch.paths import video_labels

    ap = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    ap.add_argument("videos", type=Path, nargs="+", help="folders of STEM.mp4")
    ap.add_argument("--weights", type=Path, nargs="*", default=[], help="YuNet ONNX files beside the shipped one")
    ap.add_argument("--labels", type=Path)
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("-c", "--config", type=Path, help="maskwatch.yaml (its detector and model; default: embedded)")
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    sure = build_pipeline(cfg.detector, cfg.classifier).min_face_score
    result = {}
    for weights in (cfg.detector.model or DEFAULT_DETECTOR, *args.weights):
        detector = build_detector(cfg.detector.model_copy(update={"model": weights}))
        result[str(weights)] = measure(detector, args.videos, args.labels or video_labels(), args.fps, sure)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
