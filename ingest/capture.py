"""One camera's capture, in a process of its own: open, grab at the source's pace, encode due frames.

Why a process: OpenCV's FFmpeg backend holds one process-wide lock while it opens a capture, for
up to `open_timeout_s` when a camera never answers, so cameras opened by threads of one process
wait for each other (3 silent cameras kept a good one offline for 10-15 s; 10 would for a
minute). A capture process per camera opens and decodes alone, and a decoder that crashes or
hangs takes only its own camera with it. The process never touches the bus: it hands frames and
what happened (`Opened`, `Offline`, `Ended`, `Progress`) to its `CameraReader` in the parent
through a pipe fed from a bounded queue, so a slow parent drops frames (counted) instead of
stalling the camera. The parent stops it with SIGTERM; nothing is shared that a killed process
could leave locked (a pipe only: a message cut short by a kill is an EOF for the parent).

A live source is read continuously (grab only) so OpenCV's buffer never lags; only the frames that
are due are decoded, resized and JPEG-encoded. Files are paced at their own frame rate and loop,
so they behave like cameras. Open and read errors close the capture and reopen it with capped
exponential backoff and jitter.
"""
from __future__ import annotations

import queue
import random
import select
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

import cv2

from maskwatch.backoff import backoff_delay
from maskwatch.camera_source import configure_ffmpeg, kind_of, open_capture, probe_target, reachable
from maskwatch.config import CameraConfig, IngestConfig
from maskwatch.ingest.camera_motion import CameraPose
from maskwatch.ingest.motion import MotionGate
from maskwatch.ingest.native import NativeLog
from maskwatch.wire.frames import FrameMsg

PROGRESS_INTERVAL_S = 0.5
OUTBOX_SIZE = 4       # encoded frames and state changes waiting for the parent


@dataclass(frozen=True)
class Opened:
    source_fps: float


@dataclass(frozen=True)
class Offline:
    error: str            # may hold a URL: the parent redacts before logging or publishing
    retry_in_s: float
    bug: bool = False     # an unexpected exception, not a camera fault


@dataclass(frozen=True)
class Ended:
    """A file camera reached its end and does not loop."""


@dataclass(frozen=True)
class Progress:
    frames_read: int
    dropped_queue: int    # encoded frames the parent was too slow to take
    picture: Picture | None = None  # what the last sent frame looked like


@dataclass(frozen=True)
class Picture:
    """Cheap facts about a frame, for camera-health incidents (black, saturated, frozen)."""
    brightness: float     # mean of a 64x36 grey thumbnail, 0-255
    contrast: float       # its standard deviation: a flat picture is near 0
    changed_at: float     # epoch seconds when the thumbnail last differed from the one before


PICTURE_SIZE = (64, 36)
# the thumbnail's mean absolute change below which two frames are the same picture: a decoder that
# repeats a frame gives exactly 0, a still scene's sensor noise and I-frames give more
FROZEN_CHANGE = 0.05


class Capture:
    """The open/read/backoff loop of one camera; `emit` is how anything leaves it."""

    def __init__(self, cam: CameraConfig, cfg: IngestConfig, out: Any, stop: Any, rng: random.Random | None = None,
                 native: NativeLog | None = None):
        self.cam, self.cfg, self.out, self.stop, self.native = cam, cfg, out, stop, native
        self.kind = kind_of(cam.url)
        self.rng = rng or random.Random()
        self.failures = 0          # consecutive, drives the backoff
        self.seq = 0
        self.read_total = self.dropped_queue = 0
        self._progress_due = 0.0
        self._thumb = None
        self.picture: Picture | None = None
        # where each frame changed (ingest.motion), so that workers detect only there
        self.gate = MotionGate(cfg.motion) if cfg.motion.enabled else None
        self.pose = CameraPose(cfg.camera_motion)  # how the camera itself moves (ingest.camera_motion)

    def run(self) -> None:
        while not self.stop.is_set():
            cap = None
            try:
                cap = open_capture(self.cam, self.cfg)
                fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
                if self.gate:
                    self.gate = MotionGate(self.cfg.motion)  # a reopened camera starts with a full frame
                self.pose = CameraPose(self.cfg.camera_motion)  # ... and a new pose epoch
                self._emit(Opened(fps))
                if self._read_loop(cap, fps):
                    self._emit(Ended())
                    return
                continue  # stopped
            except (OSError, cv2.error) as e:
                error, bug = self._with_reason(str(e)), False
            except Exception as e:  # a bug must not end the camera for good: reopen, and say so
                error, bug = f"{type(e).__name__}: {e}", True
            finally:
                if cap is not None:
                    cap.release()
            self.failures += 1
            delay = backoff_delay(self.failures, self.cfg.backoff_initial_s, self.cfg.backoff_max_s, self.rng)
            self._emit(Offline(error, delay, bug))
            self._progress(force=True)
            self._wait_out(delay)

    def _wait_out(self, delay: float) -> None:
        """The backoff, cut short when the camera's server comes back: a server that refused or
        did not answer is probed once a second (a TCP connect, far cheaper than an open), and the
        moment it accepts again the camera reopens, so a rebooted camera is back within seconds
        however long the backoff has grown. A server that answers yet fails the open (a wrong
        path or password) waits its whole backoff."""
        target = probe_target(self.cam.url) if self.cfg.probe_interval_s else None
        if target is None or reachable(target):
            self.stop.wait(delay)
            return
        deadline = time.monotonic() + delay
        while not self.stop.wait(min(self.cfg.probe_interval_s, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline or reachable(target):
                return

    def _with_reason(self, error: str) -> str:
        """The error with what FFmpeg said about it, if it said something."""
        time.sleep(0.02)  # its lines reach the reader thread through a pipe
        reason = self.native.reason() if self.native else ""
        return f"{error}: {reason}" if reason and reason not in error else error

    def _read_loop(self, cap: cv2.VideoCapture, fps: float) -> bool:
        """Grab until stopped (False) or a file's end without looping (True); errors raise."""
        interval = 1.0 / self.cam.fps
        next_send = next_grab = time.monotonic()
        pace = 1.0 / min(max(fps, 1.0), 120.0) if self.kind == "file" else 0.0
        while not self.stop.is_set():
            if pace:  # files: real time, like a camera
                delay = next_grab - time.monotonic()
                if delay > 0 and self.stop.wait(delay):
                    return False
                next_grab = max(next_grab + pace, time.monotonic() - 1.0)
            if not cap.grab():
                if self.kind == "file" and self.read_total:
                    if not self.cfg.loop_files:
                        self._progress(force=True)
                        return True
                    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    if cap.grab():
                        continue
                raise OSError("end of stream" if self.kind == "file" else "read failed or timed out")
            self.read_total += 1
            self.failures = 0
            now = time.monotonic()
            if now >= next_send:
                next_send = max(next_send + interval, now - interval)
                self._send(cap)
            self._progress()
        return False

    def _send(self, cap: cv2.VideoCapture) -> None:
        ok, frame = cap.retrieve()
        if not ok or frame is None:
            return
        captured = time.time()
        h, w = frame.shape[:2]
        if w > self.cfg.max_width:
            s = self.cfg.max_width / w
            frame = cv2.resize(frame, (self.cfg.max_width, round(h * s)), interpolation=cv2.INTER_AREA)
            h, w = frame.shape[:2]
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        self._look(gray, captured)
        regions = self.gate.regions(gray, time.monotonic()) if self.gate else None
        pose = self.pose.update(gray)
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.cam.jpeg_quality])
        if not ok:
            return
        self.seq += 1
        try:
            self.out.put_nowait(FrameMsg(self.cam.id, self.seq, captured, w, h, buf.tobytes(),
                                         tuple(regions) if regions is not None else None, pose))
        except queue.Full:
            self.dropped_queue += 1

    def _look(self, gray, captured: float) -> None:
        """Brightness, contrast, and whether the picture changed since the last sent frame."""
        thumb = cv2.resize(gray, PICTURE_SIZE, interpolation=cv2.INTER_AREA)
        thumb = thumb.astype("float32")
        changed = self._thumb is None or float(cv2.absdiff(thumb, self._thumb).mean()) > FROZEN_CHANGE
        self._thumb = thumb
        mean, std = cv2.meanStdDev(thumb)
        since = captured if changed or self.picture is None else self.picture.changed_at
        self.picture = Picture(round(float(mean[0][0]), 1), round(float(std[0][0]), 1), since)

    def _progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now >= self._progress_due:
            self._progress_due = now + PROGRESS_INTERVAL_S
            self._emit(Progress(self.read_total, self.dropped_queue, self.picture), block=force)

    def _emit(self, item: Any, block: bool = True) -> None:
        """State changes wait (briefly) for room; a periodic Progress is simply skipped when full."""
        try:
            self.out.put(item, timeout=2.0) if block else self.out.put_nowait(item)
        except queue.Full:
            pass


class Outbox:
    """What leaves the process: a bounded queue drained into the pipe by a sender thread, so that
    a parent that is slow to read costs frames (counted by the caller), never the grab loop.

    It also notices an orphan: when the ingest process dies (even by SIGKILL) the pipe has no
    reader any more, and `gone` is set, so no camera goes on being read for nobody."""

    _CLOSE = object()

    def __init__(self, conn: Any, gone: threading.Event, size: int = OUTBOX_SIZE):
        self.conn, self.gone, self.q = conn, gone, queue.Queue(size)
        self._poll = select.poll()
        self._poll.register(conn.fileno(), select.POLLOUT)
        self.thread = threading.Thread(target=self._send, name="outbox", daemon=True)
        self.thread.start()

    def put_nowait(self, item: Any) -> None:
        self.q.put_nowait(item)

    def put(self, item: Any, timeout: float) -> None:
        self.q.put(item, timeout=timeout)

    def close(self, timeout: float = 2.0) -> None:
        """Send what is queued (a last Ended or Offline matters), for at most `timeout` seconds."""
        try:
            self.q.put(self._CLOSE, timeout=timeout)
        except queue.Full:
            return
        self.thread.join(timeout)

    def _send(self) -> None:
        while True:
            try:
                item = self.q.get(timeout=0.5)
            except queue.Empty:
                if self._reader_gone():
                    return self.gone.set()
                continue
            if item is self._CLOSE:
                return
            try:
                self.conn.send(item)
            except OSError:  # EPIPE: the parent is gone, nothing left to tell
                return self.gone.set()

    def _reader_gone(self) -> bool:
        # a pipe's write end polls POLLERR once the last read end is closed
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in self._poll.poll(0))


def capture_main(cam: CameraConfig, cfg: IngestConfig, conn: Any) -> None:
    """The capture process's entry point (a multiprocessing target); SIGTERM stops it."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Ctrl-C reaches the whole process group: the parent decides when its cameras stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_ffmpeg()
    out = Outbox(conn, gone=stop)
    try:
        Capture(cam, cfg, out, stop, native=NativeLog().capture()).run()
    finally:
        out.close()
