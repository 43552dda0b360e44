"""Which frame of a video a violation's evidence is: found by its picture, not by the clock.

A video played as a file camera is read in real time, and when the reader falls behind (1080p at
30 fps on a busy machine) the wall clock and the video's own time drift apart by a few tenths of a
second. On a still camera that hardly matters; on a moving one everyone in the picture has moved by
then, and a face would be given to whoever stood there a moment later. The stored evidence frame
(the snapshot) is one of the video's frames, with the violator boxed: the frame nearest it, in grey
thumbnails, within a window around the clock's estimate, is the one.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

THUMB = (96, 54)  # wide enough to tell frames apart, small enough that the red box hardly counts
REACH_S = 1.5      # the clock's estimate is within this of the truth (measured drift: under 0.6 s)


def thumb(img: np.ndarray) -> np.ndarray:
    grey = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)


def thumbs(video: Path) -> np.ndarray:
    """(N, h, w) thumbnails of every frame of a video, in order."""
    cap, out = cv2.VideoCapture(str(video)), []
    try:
        while True:
            ok, img = cap.read()
            if not ok:
                break
            out.append(thumb(img))
    finally:
        cap.release()
    return np.stack(out) if out else np.zeros((0, THUMB[1], THUMB[0]), np.float32)


def frame_of(image: np.ndarray, frames: np.ndarray, around_s: float, fps: float, reach_s: float = REACH_S) -> int:
    """The 1-based number of the frame (of `frames`, thumbnails) that `image` shows, searched
    within `reach_s` of `around_s` (the clock's estimate, seconds into the video, frame n at n / fps)."""
    if not len(frames):
        raise ValueError("the video has no frames")
    # a clock a little past the end (or before the start) still searches the frames nearest it
    lo = min(max(0, int((around_s - reach_s) * fps) - 1), len(frames) - 1)
    hi = min(len(frames), max(lo + 1, int((around_s + reach_s) * fps) + 1))
    t = thumb(image)
    diffs = np.abs(frames[lo:hi] - t).mean(axis=(1, 2))
    return lo + int(np.argmin(diffs)) + 1
