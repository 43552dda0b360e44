"""Frame-level face recall on annotated real footage: of the people whose face the labels call
visible in a frame, how many the detector finds (a detected face whose centre lies in the upper half
of that person's box, the real-footage scorer's match), at the rate a camera would be read.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from maskwatch.models.evaluation.clipscore import holding


def visible_in(truth: dict) -> dict[int, dict[str, list]]:
    """frame -> {person id: [their box]} for the people whose face is visible in that frame."""
    out: dict[int, dict[str, list]] = {}
    for p in truth["persons"]:
        spans = p.get("visible", [])
        for frame, *box in p["boxes"]:
            if any(a <= frame <= b for a, b in spans):
                out.setdefault(int(frame), {})[p["id"]] = [box]
    return out


def people_in(truth: dict) -> dict[int, dict[str, list]]:
    """frame -> {person id: [their boxes]} for every labelled person in that frame, face or not."""
    out: dict[int, dict[str, list]] = {}
    for p in truth["persons"]:
        for frame, *box in p["boxes"]:
            out.setdefault(int(frame), {}).setdefault(p["id"], []).append(box)
    return out


def frames(video: Path, every: int, wanted=None, phase: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """(1-based frame number, image) of every `every`-th frame of `video` (from frame 1 + `phase`)
    that `wanted` holds (None: all of them): the frames a camera read at a lower rate would have
    seen and the labels say something of."""
    cap, n = cv2.VideoCapture(str(video)), 0
    try:
        while True:
            ok, img = cap.read()
            if not ok:
                return
            n += 1
            if (n - 1) % every == phase and (wanted is None or n in wanted):
                yield n, img
    finally:
        cap.release()


def face_recall(pipeline, video: Path, truth: dict, fps: float) -> dict:
    """{"faces": visible faces in the frames read, "found": of them detected, "recall"}."""
    wanted = visible_in(truth)
    faces = found = 0
    for n, img in frames(video, max(1, round(truth["fps"] / fps)), wanted):
        (d,) = pipeline.run([img])
        held = {holding(b, wanted[n]) for b in d.boxes}
        faces += len(wanted[n])
        found += len(held & set(wanted[n]))
    return {"faces": faces, "found": found, "recall": round(found / faces, 3) if faces else None}
