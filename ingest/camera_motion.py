"""How a camera moved between the frames it sent: a similarity transform (shift, scale, turn) of
the picture as a whole, so that the tracker can tell a person who walked from a camera that panned
(BoT-SORT's camera-motion compensation). Hand-held, body-worn, PTZ on patrol, a camera on a pole
that sways: on MOT16-11's walking camera it halves the duplicate violations (docs/real-footage.md).

Ingest is the one place that sees a camera's frames in order, so the estimate is made here and
travels with each frame as a pose (maskwatch.wire.pose): its motion since the estimate began, so
a frame that a worker drops or delays costs nothing. Corners of the grey frame, WIDTH px wide, are
tracked from the previous frame by pyramidal Lucas-Kanade and the transform is fitted with RANSAC,
so that the people walking across (a minority of the corners) do not drag it.

`auto` (the default) watches a still camera only every STILL_CHECK_S, taking the frames between
as still, and every frame again once it moves: a fixed camera costs about a tenth of a moving one
(6.3 ms a 1080p frame, 3.8 ms a 720p one, on one core: docs/tracking-and-identity.md).
"""
from __future__ import annotations

import time
from typing import Literal

import cv2
import numpy as np

from maskwatch.geometry import then
from maskwatch.wire.pose import IDENTITY, Matrix, Pose

WIDTH, MAX_CORNERS, MIN_INLIERS = 320, 200, 20
STILL_SHIFT_PX, STILL_LINEAR = 0.5, 1e-3  # less is sensor noise and encoder jitter: a still camera
STILL_FRAMES, STILL_CHECK_S = 10, 2.0     # auto: this many still frames in a row, then a look this often

Mode = Literal["auto", "always", "off"]


class MotionEstimate:
    """Frame-to-frame transforms of one camera's grey frames."""

    def __init__(self) -> None:
        self._prev: np.ndarray | None = None
        self._points: np.ndarray | None = None

    def update(self, gray: np.ndarray) -> Matrix | None:
        """The transform from the previous frame's pixels to this one's, or None: the first frame,
        a cut, or too little texture to tell."""
        scale = WIDTH / gray.shape[1]
        small = cv2.resize(gray, (WIDTH, max(1, round(gray.shape[0] * scale))), interpolation=cv2.INTER_AREA)
        prev, points, self._prev = self._prev, self._points, small
        self._points = cv2.goodFeaturesToTrack(small, MAX_CORNERS, 0.01, 6)
        if prev is None or points is None or prev.shape != small.shape or len(points) < MIN_INLIERS:
            return None
        moved, ok, _ = cv2.calcOpticalFlowPyrLK(prev, small, points, None, winSize=(21, 21), maxLevel=3)
        ok = ok.ravel().astype(bool)
        if ok.sum() < MIN_INLIERS:
            return None
        m, inliers = cv2.estimateAffinePartial2D(points[ok], moved[ok], method=cv2.RANSAC, ransacReprojThreshold=1.5)
        if m is None or int(inliers.sum()) < MIN_INLIERS:
            return None
        # the thumbnail's shift is a larger one in frame pixels; scale and turn are the same
        return (float(m[0, 0]), float(m[0, 1]), float(m[0, 2]) / scale), \
               (float(m[1, 0]), float(m[1, 1]), float(m[1, 2]) / scale)


def is_still(m: Matrix) -> bool:
    return (abs(m[0][2]) < STILL_SHIFT_PX and abs(m[1][2]) < STILL_SHIFT_PX and abs(m[0][0] - 1) < STILL_LINEAR
            and abs(m[1][1] - 1) < STILL_LINEAR and abs(m[0][1]) < STILL_LINEAR and abs(m[1][0]) < STILL_LINEAR)


class CameraPose:
    """One camera's pose, frame by frame (`ingest.camera_motion`); a reopened camera gets a new one."""

    def __init__(self, mode: Mode = "auto", clock=time.monotonic):
        self.mode, self.clock = mode, clock
        self.estimate = MotionEstimate()
        self.pose: Pose | None = None
        self._still = 0
        self._next_look = 0.0

    def update(self, gray: np.ndarray) -> Pose | None:
        """This frame's pose (None with the mode off)."""
        if self.mode == "off":
            return None
        now = self.clock()
        if self.pose is not None and self.mode == "auto" and self._still >= STILL_FRAMES and now < self._next_look:
            return self.pose  # a still camera between looks: taken to be still
        m = self.estimate.update(gray)
        self._next_look = now + STILL_CHECK_S
        if m is None or self.pose is None:  # nothing to relate this frame to: a new epoch begins
            epoch = max(time.time_ns() // 1_000_000, self.pose.epoch + 1 if self.pose else 0)
            self.pose, self._still = Pose(epoch, IDENTITY), 0
        elif is_still(m):
            self._still += 1
        else:
            self.pose, self._still = Pose(self.pose.epoch, then(self.pose.m, m)), 0
        return self.pose
