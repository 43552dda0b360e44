"""Opening a camera with OpenCV: RTSP/HTTP through FFmpeg with open and read timeouts, files, webcams;
and trying one (`test_connection`: the dashboard's "test connection" button).

Timeouts must be passed to the VideoCapture constructor (setting them after open has no effect);
without them a hung server blocks read() for 30-60 s. TCP transport and a small probe make RTSP
open in ~0.1 s instead of ~5 s.
"""
from __future__ import annotations

import os
import socket
import urllib.parse
from pathlib import Path

import cv2

from maskwatch.config import CameraConfig, IngestConfig

FFMPEG_OPTIONS = "rtsp_transport;tcp|probesize;32"


def configure_ffmpeg() -> None:
    # read by OpenCV at each open; a user's own setting wins
    os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", FFMPEG_OPTIONS)


def kind_of(url: str) -> str:
    if url.isdigit():
        return "webcam"
    scheme = url.split("://", 1)[0].lower() if "://" in url else "file"
    return "file" if scheme == "file" else "stream"


def file_path(url: str) -> str:
    return url[len("file://"):] if url.lower().startswith("file://") else url


def open_capture(cam: CameraConfig, cfg: IngestConfig) -> cv2.VideoCapture:
    """An opened capture, or OSError with a message that holds no credentials."""
    kind = kind_of(cam.url)
    timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(cfg.open_timeout_s * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(cfg.read_timeout_s * 1000)]
    if kind == "webcam":
        cap = cv2.VideoCapture(int(cam.url))
    elif kind == "file":
        path = file_path(cam.url)
        if not Path(path).is_file():
            raise OSError(f"no such file: {path}")
        cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    else:
        cap = cv2.VideoCapture(cam.url, cv2.CAP_FFMPEG, timeouts)
    if not cap.isOpened():
        cap.release()
        raise OSError("could not open the stream (unreachable, refused, wrong path or timed out)")
    return cap


DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443, "rtmp": 1935}


def probe_target(url: str) -> tuple[str, int] | None:
    """(host, port) a stream camera's server listens on, for a reachability probe; None for files,
    webcams and URLs without a host."""
    if kind_of(url) != "stream":
        return None
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    return (parts.hostname, port) if parts.hostname and port else None


def reachable(target: tuple[str, int], timeout_s: float = 0.5) -> bool:
    """Does the server accept a TCP connection? Far cheaper than an open (no RTSP or HTTP
    handshake, no decoder): what a camera waiting out its backoff asks about once a second."""
    try:
        with socket.create_connection(target, timeout=timeout_s):
            return True
    except OSError:
        return False


def try_camera(cam: CameraConfig, cfg: IngestConfig) -> tuple[bytes | None, str]:
    """(a JPEG of the camera's first frame, "") or (None, why not): the server first (a TCP connect
    says unreachable or refused apart from a stream that will not open), then the open, then a
    frame. No reason holds the URL: it may carry a password."""
    configure_ffmpeg()
    target = probe_target(cam.url)
    if target is not None and not reachable(target, timeout_s=min(cfg.open_timeout_s, 3.0)):
        return None, f"cannot reach {target[0]} port {target[1]} (refused, or no answer)"
    try:
        cap = open_capture(cam, cfg)
    except OSError as e:
        reason = str(e)
        if target is not None:
            reason = "the server answered, but the stream did not open: a wrong path or credentials?"
        return None, reason
    try:
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok or frame is None:
        return None, f"the stream opened, but no frame came within {cfg.read_timeout_s:g} s"
    h, w = frame.shape[:2]
    if w > 960:  # a preview: the page shows it small
        frame = cv2.resize(frame, (960, round(h * 960 / w)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return (buf.tobytes(), "") if ok else (None, "the frame could not be encoded")
