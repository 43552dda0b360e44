"""One reader per camera: grab at the source's pace, publish the latest frame at the camera's fps cap.

A live source is read continuously (grab only) so OpenCV's buffer never lags; only the frames that
are due are decoded, resized and JPEG-encoded. Files are paced at their own frame rate and loop, so
they behave like cameras. Errors close the capture and reconnect with capped exponential backoff and
jitter; nothing a camera does can stop another camera's thread. A bus outage is not a camera
error: the camera stays open, and the frames that cannot be published are dropped and counted.
"""
from __future__ import annotations

import logging
import random
import threading
import time

import cv2

from ingest.source import kind_of, open_capture
from maskwatch.bus import Bus
from maskwatch.config import CameraConfig, IngestConfig, RedisConfig
from maskwatch.errors import BusError
from maskwatch.redact import redact_text, redact_url
from maskwatch.wire import frames as wire

log = logging.getLogger(__name__)


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random) -> float:
    """Exponential in the attempt number, capped, with +-20% jitter so cameras don't retry in lockstep."""
    return min(cap, initial * 2 ** max(0, attempt - 1)) * rng.uniform(0.8, 1.2)


class CameraReader(threading.Thread):
    def __init__(self, cam: CameraConfig, cfg: IngestConfig, redis_cfg: RedisConfig, bus: Bus,
                 stop: threading.Event, rng: random.Random | None = None):
        super().__init__(name=f"camera-{cam.id}", daemon=True)
        self.cam, self.cfg, self.bus, self.stop_event = cam, cfg, bus, stop
        self.maxlen = redis_cfg.frames_maxlen
        self.stream = bus.keys.frames(cam.id)
        self.rng = rng or random.Random()
        self.kind = kind_of(cam.url)
        self.state = "starting"
        self.last_error = ""
        self.reconnects = 0
        self.failures = 0          # consecutive, drives the backoff
        self.next_retry_at = 0.0
        self.seq = 0
        self.read_total = self.sent_total = 0
        self.dropped_bus = 0       # frames not published because the bus was down
        self._bus_down = False
        self._bus_retry_at = 0.0
        self.last_frame_at = 0.0
        self.size = (0, 0)
        self.source_fps = 25.0
        self.delays: list[float] = []  # backoff history, for status and tests
        self._rate = {"t": time.monotonic(), "read": 0, "sent": 0, "fps_read": 0.0, "fps_sent": 0.0}
        self._status_due = 0.0

    def run(self) -> None:
        log.info("camera %s: starting (%s)", self.cam.id, redact_url(self.cam.url))
        while not self.stop_event.is_set():
            cap = None
            try:
                cap = open_capture(self.cam, self.cfg)
                self._online(cap)
                self._read_loop(cap)
            except (OSError, cv2.error) as e:
                self._failed(str(e))
            except Exception as e:  # a bug must not kill the camera's thread for good
                log.exception("camera %s: unexpected error", self.cam.id)
                self._failed(f"{type(e).__name__}: {e}")
            finally:
                if cap is not None:
                    cap.release()
            if self.state == "ended":
                break
            if not self.stop_event.is_set() and self.state != "online":
                self._wait_backoff()
        if self.state != "ended":
            self.state = "stopped"
        self._publish_status(force=True)

    def _online(self, cap: cv2.VideoCapture) -> None:
        self.state = "online"
        self.last_error = ""
        self.source_fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        log.info("camera %s: online (%.1f fps source)", self.cam.id, self.source_fps)
        self._publish_status(force=True)

    def _read_loop(self, cap: cv2.VideoCapture) -> None:
        interval = 1.0 / self.cam.fps
        next_send = time.monotonic()
        pace = 1.0 / min(max(self.source_fps, 1.0), 120.0) if self.kind == "file" else 0.0
        next_grab = time.monotonic()
        while not self.stop_event.is_set():
            if pace:  # files: real time, like a camera
                delay = next_grab - time.monotonic()
                if delay > 0 and self.stop_event.wait(delay):
                    return
                next_grab = max(next_grab + pace, time.monotonic() - 1.0)
            if not cap.grab():
                if self.kind == "file" and self.read_total:
                    if not self.cfg.loop_files:
                        log.info("camera %s: end of file", self.cam.id)
                        self.state = "ended"
                        return
                    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    if cap.grab():
                        continue
                raise OSError("end of stream" if self.kind == "file" else "read failed or timed out")
            self.read_total += 1
            self._rate["read"] += 1
            self.failures = 0
            now = time.monotonic()
            if now >= next_send:
                next_send = max(next_send + interval, now - interval)
                self._send(cap)
            self._publish_status()

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
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.cam.jpeg_quality])
        if not ok:
            return
        self.seq += 1
        msg = wire.FrameMsg(self.cam.id, self.seq, captured, w, h, buf.tobytes())
        if not self._publish(msg):
            return
        self.sent_total += 1
        self._rate["sent"] += 1
        self.last_frame_at = captured
        self.size = (w, h)

    def _failed(self, error: str) -> None:
        self.state = "offline"
        self.last_error = redact_text(error)
        self.failures += 1
        log.warning("camera %s: %s", self.cam.id, self.last_error)

    def _wait_backoff(self) -> None:
        delay = backoff_delay(self.failures, self.cfg.backoff_initial_s, self.cfg.backoff_max_s, self.rng)
        self.delays.append(delay)
        self.next_retry_at = time.time() + delay
        log.info("camera %s: reconnecting in %.1fs", self.cam.id, delay)
        self._publish_status(force=True)
        end = time.monotonic() + delay
        while not self.stop_event.is_set() and time.monotonic() < end:
            self.stop_event.wait(min(self.cfg.status_interval_s, end - time.monotonic()))
            self._publish_status()
        self.reconnects += 1

    def _publish(self, msg: wire.FrameMsg) -> bool:
        """Publish a frame; during a bus outage drop it (counted) and keep the camera open. While
        the bus is down it is tried once a second, not for every frame: an unreachable server
        costs a connect timeout per try, and the camera must go on being read meanwhile."""
        if self._bus_down and time.monotonic() < self._bus_retry_at:
            self.dropped_bus += 1
            return False
        try:
            self.bus.add(self.stream, wire.encode(msg), maxlen=self.maxlen)
        except BusError as e:
            self.dropped_bus += 1
            if not self._bus_down:  # once per outage, not once a frame
                log.warning("camera %s: bus unavailable (%s), dropping frames until it is back",
                            self.cam.id, type(e).__name__)
            self._bus_down = True
            self._bus_retry_at = time.monotonic() + 1.0
            return False
        if self._bus_down:
            log.info("camera %s: bus is back, %d frames were dropped", self.cam.id, self.dropped_bus)
        self._bus_down = False
        return True

    def _publish_status(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._status_due:
            return
        self._status_due = now + self.cfg.status_interval_s
        try:
            self._write_status(now)
        except BusError as e:  # status is best effort: the camera thread must live on
            log.debug("camera %s: status not written (%s)", self.cam.id, type(e).__name__)

    def _write_status(self, now: float) -> None:
        r = self._rate
        if now - r["t"] >= 0.5:
            r["fps_read"], r["fps_sent"] = r["read"] / (now - r["t"]), r["sent"] / (now - r["t"])
            r.update(t=now, read=0, sent=0)
        if self.state != "online":
            r["fps_read"] = r["fps_sent"] = 0.0
        self.bus.put_hash(self.bus.keys.camera_status(self.cam.id), {
            "state": self.state, "name": self.cam.label, "url": redact_url(self.cam.url),
            "fps_read": round(r["fps_read"], 2), "fps_sent": round(r["fps_sent"], 2),
            "fps_cap": self.cam.fps, "frames_read": self.read_total, "frames_sent": self.sent_total,
            "frames_dropped_bus": self.dropped_bus,
            "last_frame_at": self.last_frame_at, "reconnects": self.reconnects, "last_error": self.last_error,
            "next_retry_at": self.next_retry_at if self.state == "offline" else 0,
            "width": self.size[0], "height": self.size[1], "updated_at": time.time()})
