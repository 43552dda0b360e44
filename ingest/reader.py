"""One reader thread per camera in the ingest process: it runs the camera's capture process,
publishes the frames it hands over and writes the camera's status hash.

The capture (ingest/capture.py) runs in a process of its own, so no camera's open or decode can
hold up another's. A capture process that dies (a decoder crash, a kill) is restarted with the
same capped backoff as a camera error. A bus outage is not a camera error: the camera stays
open, and the frames that cannot be published are dropped and counted.
"""
from __future__ import annotations

import logging
import multiprocessing
import random
import signal
import threading
import time
from collections import deque

from maskwatch.backoff import backoff_delay
from maskwatch.bus import Bus
from maskwatch.config import CameraConfig, IngestConfig, RedisConfig
from maskwatch.errors import BusError
from maskwatch.ingest.capture import Ended, Offline, Opened, Progress, capture_main
from maskwatch.ingest.clips import FrameRing
from maskwatch.ingest.rate import RateMeter
from maskwatch.redact import redact_text, redact_url
from maskwatch.status import CameraStatusRecord
from maskwatch.wire import frames as wire

log = logging.getLogger(__name__)
_context = None
_GONE = object()      # the capture process's end of the pipe closed: it ended or died


def context():
    """A forkserver: children start in milliseconds from a clean, single-threaded process that has
    imported OpenCV once (fork from this process would copy TensorFlow's threads under `run`;
    spawn would import OpenCV again for every camera, for every restart)."""
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(["maskwatch.ingest.capture"])
    return _context


def _receive(conn, timeout: float):
    """The next item from a capture process, None when none came in time, _GONE at its end."""
    try:
        return conn.recv() if conn.poll(timeout) else None
    except (EOFError, OSError):  # a kill can cut a message short: that too is the end
        return _GONE


def exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class CameraReader(threading.Thread):
    def __init__(self, cam: CameraConfig, cfg: IngestConfig, redis_cfg: RedisConfig, bus: Bus,
                 stop: threading.Event, rng: random.Random | None = None, ring: FrameRing | None = None):
        super().__init__(name=f"camera-{cam.id}", daemon=True)
        self.cam, self.cfg, self.bus, self.stop_event = cam, cfg, bus, stop
        self.maxlen = redis_cfg.frames_maxlen
        self.stream = bus.keys.frames(cam.id)
        self.rng = rng or random.Random()
        self.ring = ring           # the frames a violation's clip is made of (ingest.clips)
        self.state = "starting"
        self.last_error = ""
        self.reconnects = 0
        self.restarts = 0          # capture processes that died and were started again
        self.next_retry_at = 0.0
        self.read_total = self.sent_total = 0
        self._read_base = 0        # frames read by capture processes that have ended
        self.dropped_bus = 0       # frames not published because the bus was down
        self.dropped_slow = 0      # frames this thread was too slow to take from its capture
        self._bus_down = False
        self._bus_retry_at = 0.0
        self.last_frame_at = 0.0
        self.size = (0, 0)
        self.delays: deque[float] = deque(maxlen=100)  # recent backoff delays, for tests (bounded: outages last)
        self.pid = 0
        self.picture = None        # the capture's last Picture (brightness, contrast, last change)
        self._opened = False       # the current capture process has had its camera open
        self._fps_read, self._fps_sent = RateMeter(), RateMeter()
        self._status_due = 0.0

    def run(self) -> None:
        log.info("camera %s: starting (%s)", self.cam.id, redact_url(self.cam.url))
        failures = 0
        while not self.stop_event.is_set() and self.state != "ended":
            self._opened = False
            proc, conn = self._start_capture()
            self._pump(conn)
            died = self._reap(proc, conn)
            if died is None:
                break
            failures = 1 if self._opened else failures + 1  # one that had worked backs off from the start
            self.restarts += 1
            self._offline(f"capture process died ({died})",
                          backoff_delay(failures, self.cfg.backoff_initial_s, self.cfg.backoff_max_s, self.rng),
                          bug=True)
            self.stop_event.wait(self.next_retry_at - time.time())
        if self.state != "ended":
            self.state = "stopped"
        self._publish_status(force=True)

    def _start_capture(self):
        ctx = context()
        conn, child_conn = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=capture_main, args=(self.cam, self.cfg, child_conn),
                           name=f"capture-{self.cam.id}", daemon=True)
        proc.start()
        child_conn.close()  # the child's end lives in the child only: its exit is our EOF
        self.pid = proc.pid
        return proc, conn

    def _pump(self, conn) -> None:
        """Take what the capture hands over until it ends, dies or ingest stops."""
        while not self.stop_event.is_set() and self.state != "ended":
            item = _receive(conn, 0.25)
            if item is _GONE:
                return
            if item is not None:
                self._handle(item)
            self._publish_status()

    def _reap(self, proc, conn) -> str | None:
        """Stop the capture process; why it died on its own, or None when it was asked to stop."""
        asked = self.stop_event.is_set() or self.state == "ended"
        proc.terminate()
        # a capture stuck in an open sees SIGTERM once the open gives up (open_timeout_s)
        deadline = time.monotonic() + self.cfg.open_timeout_s + 2.0
        while proc.is_alive() and time.monotonic() < deadline:
            item = _receive(conn, 0.1)  # keep the pipe flowing so its sender can finish
            if item is _GONE:
                proc.join(0.1)
            elif item is not None and not isinstance(item, wire.FrameMsg):
                self._handle(item)
        if proc.is_alive():
            proc.kill()
        proc.join(5.0)
        conn.close()
        self._read_base = self.read_total
        return None if asked else exit_reason(proc.exitcode)

    def _handle(self, item) -> None:
        if isinstance(item, wire.FrameMsg):
            self._send(item)
        elif isinstance(item, Progress):
            self._fps_read.add(time.monotonic(), self._read_base + item.frames_read - self.read_total)
            self.read_total = self._read_base + item.frames_read
            self.dropped_slow = item.dropped_queue
            self.picture = item.picture or self.picture
        elif isinstance(item, Opened):
            self.state, self.last_error, self._opened = "online", "", True
            for meter in (self._fps_read, self._fps_sent):
                meter.start(time.monotonic())
            # the picture of before an outage says nothing about this one (it would look frozen)
            self.picture = None
            log.info("camera %s: online (%.1f fps source)", self.cam.id, item.source_fps)
            self._publish_status(force=True)
        elif isinstance(item, Offline):
            self._offline(item.error, item.retry_in_s, item.bug)
        elif isinstance(item, Ended):
            log.info("camera %s: end of file", self.cam.id)
            self.state = "ended"

    def _offline(self, error: str, retry_in_s: float, bug: bool = False) -> None:
        self.state = "offline"
        self.picture = None
        self.last_error = redact_text(error)
        (log.error if bug else log.warning)("camera %s: %s", self.cam.id, self.last_error)
        self.delays.append(retry_in_s)
        self.next_retry_at = time.time() + retry_in_s
        self.reconnects += 1
        log.info("camera %s: reconnecting in %.1fs", self.cam.id, retry_in_s)
        self._publish_status(force=True)

    def _send(self, msg: wire.FrameMsg) -> None:
        if not self._publish(msg):
            return
        self.sent_total += 1
        if self.ring is not None:
            self.ring.add(msg.captured_at, msg.jpeg)
        self._fps_sent.add(time.monotonic())
        self.last_frame_at = msg.captured_at
        self.size = (msg.width, msg.height)

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
        online = self.state == "online"
        fps_read, fps_sent = (m.rate(now) if online else 0.0 for m in (self._fps_read, self._fps_sent))
        pic = self.picture
        self.bus.put_hash(self.bus.keys.camera_status(self.cam.id), CameraStatusRecord(
            state=self.state, name=self.cam.label, url=redact_url(self.cam.url),
            fps_read=round(fps_read, 2), fps_sent=round(fps_sent, 2), fps_cap=self.cam.fps,
            frames_read=self.read_total, frames_sent=self.sent_total, frames_dropped_bus=self.dropped_bus,
            frames_dropped_slow=self.dropped_slow, last_frame_at=self.last_frame_at, reconnects=self.reconnects,
            restarts=self.restarts, last_error=self.last_error,
            next_retry_at=self.next_retry_at if self.state == "offline" else 0, width=self.size[0],
            height=self.size[1], pid=self.pid, updated_at=time.time(),
            brightness=pic.brightness if pic else -1.0, contrast=pic.contrast if pic else -1.0,
            picture_changed_at=pic.changed_at if pic else 0.0).to_hash())
