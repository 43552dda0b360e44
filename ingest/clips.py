"""Where a violation's clip waits until it is made: ingest keeps each camera's recent frames, and
its ClipDesk answers events' requests with an H.264 clip (maskwatch.clipvideo).

Why here: ingest is the one service that holds every frame the workers saw (workers are stateless,
and events gets a frame only as a violation's evidence, maskwatch.workers.evidence). A camera's
`FrameRing` holds the JPEGs ingest sent for `before_s + after_s + HOLD_MARGIN_S` seconds, never
more than `snapshots.clip.buffer_mb` (the oldest go first): at 5 fps of 720p (30-110 KB a frame)
that is 2.7-10 MB a camera. Events asks once it has seen `after_s` past the decisive sighting, so
its lag (reorder, the workers' queue) must fit the margin. A restart of ingest empties the rings:
the clips events asks for then are answered "gone" (the violations, committed before any request,
stay). A request for a camera this process does not read is left to the ingest that does.

The same desk answers for evidence frames (worker.evidence_frames: on_request): a frame crosses to
the site's Redis only as the one still a committed violation needs, its other faces blurred here
when snapshots.blur_faces asks, so they never leave the edge host.
"""
from __future__ import annotations

import logging
import socket
import threading
from collections import deque
from dataclasses import replace

import cv2

from maskwatch.bus import Bus, Entry
from maskwatch.clip_config import ClipConfig
from maskwatch.clipvideo import blurred, encode_clip
from maskwatch.errors import BusError, NoGroup
from maskwatch.wire import WireError
from maskwatch.wire import clip_requests as requests
from maskwatch.wire import clips as wire

log = logging.getLogger(__name__)

HOLD_MARGIN_S = 10.0  # events' lag behind a camera: reorder_s, the workers' queue, its own tick
STILL_HOLD_S = 30.0   # a still is asked for at commit: the vote window and events' lag behind it
GROUP = "ingest"
REQUESTS_MAXLEN = 32  # per camera: requests nobody answers (its ingest is gone) do not pile up
CLIPS_MAXLEN = 200    # per shard: clips wait here while events is down (a few hundred MB at most)
BLOCK_MS = 1000


class FrameRing:
    """One camera's recent frames, bounded by age and by bytes; the reader thread adds, the desk takes."""

    def __init__(self, hold_s: float, max_bytes: int):
        self.hold_s, self.max_bytes = hold_s, max_bytes
        self._frames: deque[tuple[float, bytes]] = deque()
        self.bytes = 0
        self._lock = threading.Lock()

    @classmethod
    def of(cls, cfg: ClipConfig, stills: bool = False) -> FrameRing:
        """A ring for the clips (when enabled) and the evidence stills (when asked for)."""
        hold = max(cfg.before_s + cfg.after_s + HOLD_MARGIN_S if cfg.enabled else 0.0, STILL_HOLD_S if stills else 0.0)
        return cls(hold, int(cfg.buffer_mb * 2 ** 20))

    def add(self, captured_at: float, jpeg: bytes) -> None:
        with self._lock:
            self._frames.append((captured_at, jpeg))
            self.bytes += len(jpeg)
            while self._frames and (self.bytes > self.max_bytes or captured_at - self._frames[0][0] > self.hold_s):
                self.bytes -= len(self._frames.popleft()[1])

    def take(self, times: set[float]) -> dict[float, bytes]:
        """The frames captured at `times` that are still here."""
        with self._lock:
            return {t: jpeg for t, jpeg in self._frames if t in times}

    def __len__(self) -> int:
        return len(self._frames)


class ClipDesk(threading.Thread):
    def __init__(self, cfg: ClipConfig, bus: Bus, rings: dict[str, FrameRing], stop: threading.Event,
                 jpeg_quality: int = 90):
        super().__init__(name="clips", daemon=True)
        self.cfg, self.bus, self.rings, self.stop = cfg, bus, rings, stop  # rings: the service's, kept current
        self.jpeg_quality = jpeg_quality  # a still re-encoded after blurring (snapshots.jpeg_quality)
        self.consumer = socket.gethostname()
        self.made = self.gone = self.bad = self.stills = 0
        self.ready = threading.Event()  # set once it reads its cameras' requests

    def run(self) -> None:
        grouped: set[str] = set()
        while not self.stop.is_set():
            try:
                streams = [self.bus.keys.clip_requests(cam) for cam in list(self.rings)]
                new = [s for s in streams if s not in grouped]
                for s in new:  # cameras added at runtime too
                    self.bus.ensure_group(s, GROUP, "$")
                if new:
                    # what this host was asked before it restarted: the frames are gone, say so
                    self._answer(self.bus.read_group(GROUP, self.consumer, new, 100, None, pending=True))
                    grouped.update(new)
                self.ready.set()
                if not streams:
                    self.stop.wait(BLOCK_MS / 1000)
                    continue
                self._answer(self.bus.read_group(GROUP, self.consumer, streams, 10, BLOCK_MS))
            except NoGroup:
                grouped.clear()
            except BusError as e:
                log.warning("clips: bus unavailable (%s), retrying", type(e).__name__)
                self.stop.wait(1.0)

    def _answer(self, entries: list[Entry]) -> None:
        for e in entries:
            try:
                req = requests.decode(e.fields)
            except WireError as err:
                self.bad += 1
                log.warning("clip request %s: skipped, %s", e.id, err)
            else:
                self.bus.add(self.bus.keys.clips(req.shard), wire.encode(self.answer(req)), maxlen=CLIPS_MAXLEN)
            self.bus.ack(e.stream, GROUP, [e.id], delete=True)

    def answer(self, req: requests.ClipRequest) -> wire.ClipMsg:
        ring = self.rings.get(req.camera)
        wanted = {f.captured_at for f in req.frames} | ({req.still.captured_at} if req.still else set())
        have = ring.take(wanted) if ring is not None else {}
        if req.still is None:
            return self.clip(req, have)  # a clip, or why there is none
        msg = self.clip(req, have) if req.frames else wire.ClipMsg(req.camera, req.violation_id, b"", 0)
        still = self.still(req.still, have.get(req.still.captured_at))
        if still:
            self.stills += 1
            return replace(msg, still=still)
        log.warning("camera %s: no evidence frame for violation %s, it is no longer in memory",
                    req.camera, req.violation_id)
        return replace(msg, still_why="frame no longer in ingest's memory")

    def clip(self, req: requests.ClipRequest, have: dict[float, bytes]) -> wire.ClipMsg:
        frames = [(f, have[f.captured_at]) for f in req.frames if f.captured_at in have]
        mp4, n = encode_clip(frames, self.cfg.crf) if frames else (b"", 0)
        if not n:
            self.gone += 1
            log.warning("camera %s: no clip for violation %s, its %d frames are no longer in memory",
                        req.camera, req.violation_id, len(req.frames))
            return wire.ClipMsg(req.camera, req.violation_id, b"", 0, "frames no longer in ingest's memory")
        self.made += 1
        log.info("camera %s: clip of violation %s made (%d of %d frames, %d KB)", req.camera, req.violation_id,
                 n, len(req.frames), len(mp4) // 1024)
        return wire.ClipMsg(req.camera, req.violation_id, mp4, n)

    def still(self, frame: requests.ClipFrame, jpeg: bytes | None) -> bytes:
        """The frame as sent to the workers, its other faces blurred first when asked (events draws the
        violator's box): b"" when it is gone or unreadable."""
        if jpeg is None or not frame.blur:
            return jpeg or b""
        img = blurred(frame, jpeg)
        if img is None:
            return b""
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        return buf.tobytes() if ok else b""
