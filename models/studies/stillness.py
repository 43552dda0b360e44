"""`python -m maskwatch.models.studies.stillness VIDEO... [--fps 5] [--out DIR]`: how still real
faces are, to tell a face on a poster or a screen from a person standing.

Each video plays at `--fps` through the worker's pipeline; faces are linked frame to frame (the
nearest face of the last GAP_S seconds within one face width: standing people and pictures barely
move). For every track seen for at least MIN_S seconds it reports its *reach*: how far the face's
centre wandered (the larger of the x and y ranges) over its first 5, 10 and 20 seconds, in face widths,
with its median width and whether the rule called it a violation. A crop of each long track is saved
to `--out` so a person can say which tracks are posters.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from maskwatch.config import parse_config
from maskwatch.geometry import box_width

MIN_S = 4.0
GAP_S = 1.0
SPANS = (5.0, 10.0, 20.0)


def reach(trail: list[tuple[float, tuple]], span: float) -> float | None:
    """The centre's range over the first `span` seconds, in median face widths (None: seen shorter)."""
    t0 = trail[0][0]
    if trail[-1][0] - t0 < span * 0.95:
        return None
    pts = np.array([[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0]] for t, b in trail if t - t0 <= span])
    return float(np.max(pts[:, :2].max(0) - pts[:, :2].min(0)) / np.median(pts[:, 2]))


def link(tracks: list[dict], t: float, boxes, flagged) -> list[int]:
    """Each face joins the nearest live track within one face width, or starts one; their indices."""
    out, used = [], set()
    for box, bad in zip(boxes, flagged):
        cx, cy, w = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, max(1.0, box[2] - box[0])
        best = None
        for i, tr in enumerate(tracks):
            if i in used or t - tr["trail"][-1][0] > GAP_S:
                continue
            b = tr["trail"][-1][1]
            d = np.hypot((b[0] + b[2]) / 2 - cx, (b[1] + b[3]) / 2 - cy) / w
            if d < 1.0 and (best is None or d < best[0]):
                best = (d, i)
        i = best[1] if best else len(tracks)
        if best is None:
            tracks.append({"trail": [], "flagged": 0, "crop": None})
        used.add(i)
        tracks[i]["trail"].append((t, tuple(map(float, box))))
        tracks[i]["flagged"] += int(bad)
        out.append(i)
    return out


def play(pipeline, video: Path, fps: float, out: Path | None) -> list[dict]:
    tracks: list[dict] = []
    cap = cv2.VideoCapture(str(video))
    src = cap.get(cv2.CAP_PROP_FPS) or 25.0
    step, n = max(1, round(src / fps)), 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        n += 1
        if (n - 1) % step:
            continue
        (d,) = pipeline.run([img])
        flagged = d.violations(pipeline.threshold, pipeline.min_face_score)
        for i, k in enumerate(link(tracks, n / src, d.boxes, flagged)):
            if tracks[k]["crop"] is None and out is not None:
                x1, y1, x2, y2 = (int(max(0, v)) for v in d.boxes[i])
                tracks[k]["crop"] = img[y1:y2, x1:x2].copy()
    cap.release()
    rows = []
    for tid, tr in enumerate(tracks):
        trail = tr["trail"]
        if trail[-1][0] - trail[0][0] < MIN_S:
            continue
        rows.append({"video": video.stem, "track": tid, "start_s": round(trail[0][0], 1),
                     "seen_s": round(trail[-1][0] - trail[0][0], 1),
                     "width": float(np.median([box_width(b) for _, b in trail])),
                     "no_mask_sightings": tr["flagged"], "sightings": len(trail),
                     **{f"reach_{int(s)}s": (None if (r := reach(trail, s)) is None else round(r, 3))
                        for s in SPANS}})
        if out is not None and tr["crop"] is not None and tr["crop"].size:
            cv2.imwrite(str(out / f"{video.stem}-{tid}.png"), tr["crop"])
    return rows


def main(argv: list[str] | None = None) -> int:
    from maskwatch.models.build import build_pipeline

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("videos", nargs="+", type=Path)
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
    cfg = parse_config({}, env={})
    pipeline = build_pipeline(cfg.detector, cfg.classifier)
    rows = [r for v in a.videos for r in play(pipeline, v, a.fps, a.out)]
    for r in rows:
        print(json.dumps(r))
    if a.out:
        (a.out / "stillness.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
