"""A violation's clip as H.264 MP4: the frames the workers saw, the violator boxed in red, other
faces blurred when asked. PyAV (FFmpeg's libx264) encodes it.

Frames keep their capture times (a millisecond time base), so a clip plays at the pace the
camera was read however irregular that was. The MP4 is written with its index first
(`+faststart`), so a browser starts playing before the whole file is loaded.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from fractions import Fraction

import av
import cv2
import numpy as np

from maskwatch.annotate import RED, blur_box
from maskwatch.wire.clip_requests import ClipFrame

TIME_BASE = Fraction(1, 1000)


def blurred(frame: ClipFrame, jpeg: bytes) -> np.ndarray | None:
    """A ring's frame decoded, the faces it names blurred (a clip's frames and a still alike);
    None where it cannot be decoded."""
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return None
    for box in frame.blur:
        blur_box(img, box)
    return img


def _picture(frame: ClipFrame, jpeg: bytes, size: tuple[int, int] | None) -> np.ndarray | None:
    img = blurred(frame, jpeg)
    if img is None:
        return None
    if frame.mark is not None:
        x1, y1, x2, y2 = (int(round(v)) for v in frame.mark)
        cv2.rectangle(img, (x1, y1), (x2, y2), RED, max(2, round(max(img.shape[:2]) / 400)), cv2.LINE_AA)
    if size is not None and (img.shape[1], img.shape[0]) != size:  # a camera reopened at another size
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    return img


def encode_clip(frames: Sequence[tuple[ClipFrame, bytes]], crf: int = 28) -> tuple[bytes, int]:
    """(the MP4, the number of frames in it); (b"", 0) when no frame could be decoded."""
    fd, path = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        n = _write(path, frames, crf)
        with open(path, "rb") as f:
            return (f.read(), n) if n else (b"", 0)
    finally:
        os.unlink(path)


def _write(path: str, frames: Sequence[tuple[ClipFrame, bytes]], crf: int) -> int:
    out = None
    size: tuple[int, int] | None = None
    t0 = last = None
    n = 0
    try:
        for frame, jpeg in sorted(frames, key=lambda f: f[0].captured_at):
            img = _picture(frame, jpeg, size)
            if img is None:
                continue
            if out is None:  # yuv420p wants even sides
                h, w = img.shape[:2]
                size, img = (w - w % 2, h - h % 2), img[: h - h % 2, : w - w % 2]
                out, stream = _open(path, size, crf)
                t0 = frame.captured_at
            pts = round((frame.captured_at - t0) * 1000)
            if last is not None and pts <= last:
                continue  # two frames of one millisecond: the container cannot hold both
            last = pts
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="bgr24")
            vf.pts, vf.time_base = pts, TIME_BASE
            out.mux(stream.encode(vf))
            n += 1
        if out is not None:
            out.mux(stream.encode(None))
    finally:
        if out is not None:
            out.close()
    return n


def _open(path: str, size: tuple[int, int], crf: int):
    out = av.open(path, "w", format="mp4", options={"movflags": "+faststart"})
    stream = out.add_stream("libx264", rate=30)
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    stream.time_base = TIME_BASE
    stream.codec_context.time_base = TIME_BASE
    # veryfast: a clip of 8 s of 720p encodes in about a second of one core; the browsers' profile
    stream.options = {"crf": str(crf), "preset": "veryfast", "profile": "main"}
    return out, stream
