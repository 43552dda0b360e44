"""`python -m maskwatch.models.studies.contactsheet VIDEO GT_TXT OUT.png`: what each annotated person's
face looks like over their track, one row a person, for labelling faces and masks by eye.

Each row holds up to --samples crops of the upper part of the person's box (the head and shoulders),
evenly spread over their frames, each captioned with its frame number; the row starts with the id.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from maskwatch.models.evaluation.videotruth import interpolate, read_gt

HEIGHT = 120


def frames_of(video: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    cap, out, n = cv2.VideoCapture(str(video)), {}, 0
    while wanted - out.keys():
        ok, img = cap.read()
        if not ok:
            break
        n += 1
        if n in wanted:
            out[n] = img
    cap.release()
    return out


def head(img: np.ndarray, box, share: float) -> np.ndarray:
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    y2 = y1 + max(8, int((y2 - y1) * share))
    crop = img[max(0, y1):max(1, y2), max(0, x1):max(1, x2)]
    if crop.size == 0:
        crop = np.zeros((8, 8, 3), np.uint8)
    w = max(8, int(crop.shape[1] * HEIGHT / crop.shape[0]))
    return cv2.resize(crop, (min(w, 3 * HEIGHT), HEIGHT))


def sheet(video: Path, gt: Path, samples: int, share: float, ids: list[str] | None) -> np.ndarray:
    tracks = {pid: interpolate(rows) for pid, rows in read_gt(gt).items() if not ids or pid in ids}
    picks = {pid: [rows[int(i)] for i in np.linspace(0, len(rows) - 1, min(samples, len(rows)))]
             for pid, rows in tracks.items()}
    images = frames_of(video, {int(r[0]) for rows in picks.values() for r in rows})
    lines = []
    for pid, rows in sorted(picks.items(), key=lambda kv: (len(kv[0]), kv[0])):
        tiles = [np.full((HEIGHT, 70, 3), 255, np.uint8)]
        cv2.putText(tiles[0], pid, (4, 60), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 200), 2)
        for r in rows:
            if int(r[0]) in images:
                tile = head(images[int(r[0])], r[1:], share)
                cv2.putText(tile, str(int(r[0])), (2, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 255), 1)
                tiles.append(tile)
        lines.append(np.hstack(tiles))
    width = max(line.shape[1] for line in lines)
    return np.vstack([np.pad(line, ((0, 2), (0, width - line.shape[1]), (0, 0)), constant_values=255)
                      for line in lines])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    ap.add_argument("video", type=Path)
    ap.add_argument("gt", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--share", type=float, default=0.35, help="the upper share of each box to show")
    ap.add_argument("--ids", nargs="*", help="only these people")
    args = ap.parse_args(argv)
    cv2.imwrite(str(args.out), sheet(args.video, args.gt, args.samples, args.share, args.ids))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
