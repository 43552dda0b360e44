"""A rendered person clip turned into annotated "real footage": STEM.mp4 with MOTChallenge rows and
our attributes file (maskwatch.models.evaluation.videotruth), for the commands that read footage."""
from __future__ import annotations

import json
from pathlib import Path

import cv2


def clip_as_footage(clip_dir: Path, out: Path, stem: str) -> dict:
    """Writes out/STEM.mp4, STEM.gt.txt and STEM.attributes.csv from a built clip (clip.avi and
    truth.json); each person's box is their face box stretched down to a body (the scorer looks for
    the face in a person box's upper half). Returns the clip's truth."""
    truth = json.loads((clip_dir / "truth.json").read_text())
    cap = cv2.VideoCapture(str(clip_dir / "clip.avi"))
    w, h = (int(cap.get(p)) for p in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT))
    writer = cv2.VideoWriter(str(out / f"{stem}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), truth["fps"], (w, h))
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        writer.write(frame)
    cap.release()
    writer.release()
    gt, spans = [], ["first_frame,last_frame,id,face,mask"]
    for pid, person in enumerate(truth["persons"], start=1):
        frames = [int(b[0]) for b in person["boxes"]]
        for n, x1, y1, x2, y2 in person["boxes"]:
            gt.append(f"{int(n) + 1},{pid},{x1:.1f},{y1:.1f},{x2 - x1:.1f},{(y2 - y1) * 3:.1f},1,-1,-1,-1")
        mask = "none" if person["violator"] else "worn"
        spans.append(f"{min(frames) + 1},{max(frames) + 1},{pid},visible,{mask}")
    (out / f"{stem}.gt.txt").write_text("\n".join(gt) + "\n")
    (out / f"{stem}.attributes.csv").write_text("\n".join(spans) + "\n")
    return truth
