"""Which frames make a violation's clip, and where its faces were: events' half of the clip.

Ingest holds the frames (maskwatch.ingest.clips); events knows which of them the workers saw and
which face in each was the violator's track. A camera's `FrameLog` keeps that for the last
`before_s + after_s + LOG_MARGIN_S` seconds of capture time: capture times and boxes only, a few
KB a camera. When a violation is committed, `ClipPlanner.want` notes it; once the camera's
capture clock has passed `after_s` beyond the decisive sighting (or GRACE_S of wall time went by,
for a camera that went quiet), `due` turns it into a request for the camera's ingest. A restart
of events forgets the notes: at most those clips are lost, never a violation (committed first).
A violation committed without its frame (worker.evidence_frames: on_request) asks for that one
frame at once, in a request of its own; its crop stands in until the still comes.
"""
from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass

from maskwatch.bus import Bus, Entry
from maskwatch.clip_config import ClipConfig
from maskwatch.geometry import Box
from maskwatch.wire import WireError, clip_requests, clips
from maskwatch.wire.clip_requests import ClipFrame, ClipRequest
from maskwatch.workers.events.render import others
from maskwatch.workers.track import Sighting

log = logging.getLogger(__name__)

LOG_MARGIN_S = 5.0
LOG_FRAMES = 4096     # per camera, at most (60 fps for a minute)
MAX_WANTED = 512      # clips waiting for their after_s, per shard: beyond, the oldest note is dropped
GRACE_S = 15.0        # wall time after which a clip is asked for with the frames seen so far
CLIP_COUNT = 4        # clips read a tick: each is up to a few MB
REQUESTS_MAXLEN = 32  # per camera: requests its ingest never takes (gone) do not pile up


@dataclass(frozen=True)
class Seen:
    captured_at: float
    faces: tuple[tuple[Box, int | None], ...]  # each face's box and the track it joined (None: too doubtful)


class FrameLog:
    def __init__(self, keep_s: float):
        self.keep_s = keep_s
        self.frames: deque[Seen] = deque(maxlen=LOG_FRAMES)

    def add(self, seen: Seen) -> None:
        self.frames.append(seen)
        newest = max(seen.captured_at, self.clock)
        while self.frames and newest - self.frames[0].captured_at > self.keep_s:
            self.frames.popleft()

    @property
    def clock(self) -> float:
        return self.frames[-1].captured_at if self.frames else float("-inf")

    def between(self, lo: float, hi: float) -> list[Seen]:
        return sorted((s for s in self.frames if lo <= s.captured_at <= hi), key=lambda s: s.captured_at)


@dataclass(frozen=True)
class Wanted:
    camera: str
    violation_id: str
    track_id: int
    at: float          # capture time of the decisive sighting
    ask_by: float      # monotonic: ask then at the latest
    still: ClipFrame | None = None  # the evidence frame alone, asked for at once (no clip)


class ClipPlanner:
    def __init__(self, cfg: ClipConfig, blur: bool, shard: int):
        self.cfg, self.blur, self.shard = cfg, blur, shard
        self.logs: dict[str, FrameLog] = {}
        self.wanted: list[Wanted] = []
        self.dropped = 0

    def seen(self, camera: str, captured_at: float, faces: tuple[tuple[Box, int | None], ...]) -> None:
        if self.cfg.enabled:
            frame_log = self.logs.get(camera)
            if frame_log is None:
                frame_log = self.logs[camera] = FrameLog(self.cfg.before_s + self.cfg.after_s + LOG_MARGIN_S)
            frame_log.add(Seen(captured_at, faces))

    def want(self, camera: str, violation_id: str, track_id: int, at: float, now: float) -> None:
        if not self.cfg.enabled:
            return
        self._note(Wanted(camera, violation_id, track_id, at, now + self.cfg.after_s + GRACE_S))

    def want_still(self, camera: str, violation_id: str, track_id: int, best: Sighting, now: float) -> None:
        """Ask for a violation's evidence frame: the others' faces are blurred there, on the edge."""
        still = ClipFrame(best.captured_at, best.box, others(best) if self.blur else ())
        self._note(Wanted(camera, violation_id, track_id, best.captured_at, now, still))

    def _note(self, w: Wanted) -> None:
        self.wanted.append(w)
        if len(self.wanted) > MAX_WANTED:
            self.wanted.pop(0)
            self.dropped += 1

    def due(self, now: float) -> list[tuple[Wanted, ClipRequest]]:
        """The clips and stills to ask for now; `done` each once its request is sent."""
        out = []
        for w in self.wanted:
            frame_log = self.logs.get(w.camera)
            clock = frame_log.clock if frame_log else float("-inf")
            if w.still is not None or clock >= w.at + self.cfg.after_s or now >= w.ask_by:
                out.append((w, self.request(w)))
        return out

    def done(self, w: Wanted) -> None:
        self.wanted.remove(w)

    def request(self, w: Wanted) -> ClipRequest:
        if w.still is not None:
            return ClipRequest(w.camera, w.violation_id, self.shard, (), w.still)
        frame_log = self.logs.get(w.camera)
        seen = frame_log.between(w.at - self.cfg.before_s, w.at + self.cfg.after_s) if frame_log else []
        return ClipRequest(w.camera, w.violation_id, self.shard, tuple(self._frame(s, w.track_id) for s in seen))

    def _frame(self, s: Seen, track_id: int) -> ClipFrame:
        mark = next((box for box, tid in s.faces if tid == track_id), None)
        blur = tuple(box for box, tid in s.faces if tid != track_id) if self.blur else ()
        return ClipFrame(s.captured_at, mark, blur)


class ClipExchange:
    """Events' side of the exchange over the bus: asks the cameras' ingest for the clips and stills
    due, and keeps what comes back (`store`: keep_clip and keep_still, each True when kept)."""

    def __init__(self, planner: ClipPlanner, bus: Bus, stream: str, group: str, consumer: str, store,
                 counts: Counter):
        self.planner, self.bus, self.stream, self.group, self.consumer = planner, bus, stream, group, consumer
        self.store, self.counts = store, counts

    def ask(self, now: float) -> None:
        for wanted, req in self.planner.due(now):
            self.bus.add(self.bus.keys.clip_requests(req.camera), clip_requests.encode(req), maxlen=REQUESTS_MAXLEN)
            self.planner.done(wanted)

    def receive(self, pending: bool = False) -> None:
        """The clips sent back (with `pending`: those a stop left unkept), each kept, then deleted."""
        for e in self.bus.read_group(self.group, self.consumer, [self.stream], 10_000 if pending else CLIP_COUNT,
                                     None, pending=pending):
            self._one(e)

    def _one(self, e: Entry) -> None:
        try:
            msg = clips.decode(e.fields)
        except WireError as err:
            self.counts["bad_entries"] += 1
            log.warning("clip %s: skipped, %s", e.id, err)
        else:
            self._keep(msg)
        self.bus.ack(self.stream, self.group, [e.id], delete=True)

    def _keep(self, msg: clips.ClipMsg) -> None:
        if msg.mp4:
            self.counts["clips"] += self.store.keep_clip(msg.violation_id, msg.mp4)
        elif msg.why:
            self.counts["clips_missing"] += 1
            log.warning("camera %s: violation %s has no clip: %s", msg.camera, msg.violation_id, msg.why)
        if msg.still:
            self.counts["stills"] += self.store.keep_still(msg.violation_id, msg.still)
        elif msg.still_why:
            self.counts["stills_missing"] += 1
            log.warning("camera %s: violation %s keeps its crop as its frame: %s", msg.camera, msg.violation_id,
                        msg.still_why)
