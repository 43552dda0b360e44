"""Encode a list of BGR frames into an H.264 elementary stream for RTSP tests (and a panning video
file for the tests of evidence frames).

Uses the system GStreamer (``gst-launch-1.0`` with x264enc from
gstreamer1.0-plugins-ugly) through a subprocess, so the only Python
dependency is numpy. The output is Annex B byte-stream H.264 (``.h264``),
the format ``tests/support/rtsp_server.py`` serves.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np

from maskwatch.models.evaluation.democlip import scene_frames
from maskwatch.models.evaluation.voc import load_annotation
from support.settings import DEMO_SCENES


def make_h264_clip(frames: list[np.ndarray], fps: int, path: str | Path, *,
                   keyframe_interval: int | None = None, timeout: float = 60.0) -> Path:
    """Encode ``frames`` (equal-sized HxWx3 uint8 BGR arrays) at ``fps`` to ``path``.

    A keyframe is forced every ``keyframe_interval`` frames (default: ``fps``,
    i.e. one per second) so a client joining mid-stream gets a picture quickly.
    There are no B-frames, so decode order is display order, and every frame
    is a single slice. x264 repeats SPS/PPS before each keyframe, and the SPS
    carries the frame rate, which lets the server pace playback.
    """
    if not frames:
        raise ValueError("need at least one frame")
    if shutil.which("gst-launch-1.0") is None:
        raise RuntimeError("gst-launch-1.0 not found (apt-get install gstreamer1.0-tools)")
    height, width = frames[0].shape[:2]
    if width % 2 or height % 2:
        raise ValueError(f"width and height must be even for 4:2:0 H.264, got {width}x{height}")
    for i, frame in enumerate(frames):
        if frame.shape != (height, width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame {i}: expected ({height}, {width}, 3) uint8, got {frame.shape} {frame.dtype}")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    gop = keyframe_interval or fps
    # Raw BGR frames arrive on stdin; rawvideoparse turns the byte stream into
    # timestamped video frames (explicit stride: rows are tightly packed).
    # zerolatency: no B-frames, so PTS == DTS (rtsp_server.py relies on it);
    # threads=1: one slice per frame, like most cameras, and light on CPU.
    pipeline = (
        f"fdsrc fd=0 blocksize={width * height * 3} "
        f"! rawvideoparse format=bgr width={width} height={height} framerate={fps}/1 "
        f"plane-strides=<{width * 3}> "
        "! videoconvert ! video/x-raw,format=I420 "
        f"! x264enc tune=zerolatency speed-preset=ultrafast threads=1 key-int-max={gop} "
        "! video/x-h264,stream-format=byte-stream,alignment=au ! filesink"
    )
    # gst-launch re-joins argv escaping the spaces inside each item, so split
    # the description into words and keep the location (any path) as one word.
    argv = ["gst-launch-1.0", "-q", *pipeline.split(), f"location={path}"]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # Closing stdin makes fdsrc send EOS, so the file is flushed and complete.
        _, err = proc.communicate(b"".join(np.ascontiguousarray(f).tobytes() for f in frames),
                                  timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    if proc.returncode != 0 or not path.exists() or path.stat().st_size == 0:
        raise RuntimeError(f"gst-launch-1.0 failed ({proc.returncode}): {err.decode(errors='replace')}")
    return path


SIZE = (640, 360)


def two_people_clip(tmp_path):
    """One unmasked and one masked person (a CC0 photo), drifting slowly; their boxes in clip pixels."""
    stem = "maksssksksss114"
    img = cv2.imread(str(DEMO_SCENES / "images" / f"{stem}.jpg"))
    boxes, violation = load_annotation(DEMO_SCENES / "annotations" / f"{stem}.xml")
    assert violation.tolist().count(True) == 1 and violation.tolist().count(False) == 1
    frames = list(scene_frames(img, seconds=4, fps=10, size=SIZE, drift_px=6))
    s = min(SIZE[0] / img.shape[1], SIZE[1] / img.shape[0]) * 0.92
    x0, y0 = (SIZE[0] - round(img.shape[1] * s)) // 2, (SIZE[1] - round(img.shape[0] * s)) // 2
    boxes = boxes * s + np.array([x0, y0, x0, y0], np.float32)
    return make_h264_clip(frames, 10, tmp_path / "two_people.h264"), boxes, violation


PAN_FPS, PAN_FRAMES, PAN_HW = 10.0, 40, (180, 320)


def panning_wall(path: Path) -> list[np.ndarray]:
    """A 4 s MJPG video at `path` of a textured wall a camera pans along, 6 px a frame; its frames."""
    (h, w), n = PAN_HW, PAN_FRAMES
    rng = np.random.default_rng(5)
    wall = cv2.resize(rng.integers(0, 255, (h // 6, (w + 6 * n) // 6, 3), np.uint8), (w + 6 * n, h),
                      interpolation=cv2.INTER_NEAREST)
    frames = [np.ascontiguousarray(wall[:, 6 * i:6 * i + w]) for i in range(n)]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), PAN_FPS, (w, h))
    for f in frames:
        vw.write(f)
    vw.release()
    return frames
