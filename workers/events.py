"""The events service: detections -> per-camera tracks and votes -> violations (SQL + snapshot files).

Ack policy, so that a crash loses nothing and duplicates nothing: an entry is acked only once every
face in it is settled (see workers.tracker): its track's violation is committed, the track ended or
was suppressed, or the sighting left a still-voting track's window. A replay after a crash therefore
sees every open vote window again and fires at the same entry, and the violation id (sha1 of camera,
entry id, face index) is the same, so the insert is a no-op. Violators still in view when the
process died are recognised through cooldown marks kept in Redis, not reported a second time.

One events process per stream: tracking needs all of a camera's entries in one place.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import itertools
import json
import logging
import math
import queue
import re
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import cv2
import numpy as np
import redis
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from maskwatch.annotate import draw
from maskwatch.bus import Bus, Entry
from maskwatch.config import CAMERA_ID, Config, SnapshotConfig
from maskwatch.detections import Detections
from maskwatch.storage import repo
from maskwatch.storage.models import ReviewStatus, Violation
from maskwatch.storage.snapshots import SnapshotStore
from maskwatch.wire import WireError
from maskwatch.wire.detections import DetectionMsg, decode
from workers.tracker import Box, Mark, Sighting, State, Step, Track, Tracker

log = logging.getLogger(__name__)

GROUP = "events"
READ_COUNT = 100
PENDING_COUNT = 10_000  # the pending list is small in steady state; this bounds a replay's memory
MAX_BLOCK_S = 0.5
STATUS_INTERVAL_S = 1.0
STATUS_TTL_S = 30        # a dead service's status disappears instead of looking healthy
MARKS_TTL_S = 86_400
MARKS_KEPT = 200         # newest marks persisted per camera: bounded writes even with a long cooldown
_CAMERA = re.compile(CAMERA_ID)
T = TypeVar("T")


def violation_id(camera: str, entry_id: str, face: int) -> str:
    return hashlib.sha1(f"{camera}|{entry_id}|{face}".encode()).hexdigest()[:32]


def utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


@dataclass(frozen=True, slots=True)
class FrameInfo:
    """What a snapshot needs from a sighting's message besides its crop and frame bytes."""
    width: int
    height: int
    model_version: str
    boxes: tuple[Box, ...]  # every face of the frame, for blurring the others


def check(m: DetectionMsg) -> None:
    """decode() checks that fields exist; this checks their values, so nothing later trips on them."""
    if not isinstance(m.camera, str) or not _CAMERA.match(m.camera):
        raise WireError("detections: bad camera id")
    numbers = [m.captured_at, m.threshold, m.min_face_score] + [
        v for f in m.faces for v in (*f.box, f.score, f.p_no_mask)]
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in numbers):
        raise WireError("detections: a number is missing or not finite")
    if not 0 < m.captured_at < time.time() + 86_400:
        raise WireError("detections: capture time is not a plausible epoch")
    if any(len(f.box) != 4 for f in m.faces):
        raise WireError("detections: a box is not [x1, y1, x2, y2]")
    if not (isinstance(m.width, int) and isinstance(m.height, int) and m.width > 0 and m.height > 0):
        raise WireError("detections: bad frame size")
    if not isinstance(m.model_version, str):
        raise WireError("detections: bad model_version")


def render_frame(s: Sighting, info: FrameInfo, snap: SnapshotConfig) -> bytes | None:
    """The full frame with the violating face boxed in red (others blurred if configured)."""
    img = cv2.imdecode(np.frombuffer(s.frame, np.uint8), cv2.IMREAD_COLOR) if s.frame else None
    if img is None:
        return None
    if snap.blur_faces:
        for i, box in enumerate(info.boxes):
            if i != s.face:
                _blur(img, box)
    det = Detections(np.array([s.box]), np.array([s.score]), np.array([s.p_no_mask]))
    ok, buf = cv2.imencode(".jpg", draw(img, det, s.threshold, s.min_score),
                           [cv2.IMWRITE_JPEG_QUALITY, snap.jpeg_quality])
    return buf.tobytes() if ok else None


def _blur(img: np.ndarray, box: Box) -> None:
    h, w = img.shape[:2]
    x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
    x2, y2 = min(w, int(math.ceil(box[2]))), min(h, int(math.ceil(box[3])))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return
    k = max(3, (x2 - x1) // 2 | 1)  # odd kernel, half a face wide: no identity survives
    img[y1:y2, x1:x2] = cv2.GaussianBlur(img[y1:y2, x1:x2], (k, k), 0)


class _Interrupted(Exception):
    """stop was set while the database was unavailable: leave the rest unacked for a replay."""


@dataclass
class _Camera:
    tracker: Tracker
    heap: list = field(default_factory=list)  # (captured_at, order, received, entry id, msg)
    last_rx: float = 0.0                      # monotonic time of the last entry received
    last_capture: float = -math.inf


class _Webhook:
    """POSTs violations from a daemon thread, so a slow receiver never holds the pipeline."""

    def __init__(self, url: str, timeout_s: float, stop: threading.Event):
        self.url, self.timeout_s, self.stop = url, timeout_s, stop
        self.errors = 0
        self._queue: queue.Queue[dict] = queue.Queue(maxsize=100)
        self._thread = threading.Thread(target=self._run, name="events-webhook", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def post(self, payload: dict) -> None:
        try:
            self._queue.put_nowait(payload)
        except queue.Full:
            self.errors += 1
            log.warning("webhook: violation %s dropped, receiver too slow", payload["id"])

    def join(self) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout=self.timeout_s + 1)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                payload = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            req = urllib.request.Request(self.url, data=json.dumps(payload).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    resp.read(1024)
            except Exception as e:  # noqa: BLE001 (any failure: the thread must live; the URL may hold a token)
                self.errors += 1
                log.warning("webhook: violation %s not delivered (%s)", payload["id"], type(e).__name__)


class EventsService:
    BACKOFF_INITIAL_S = 0.5
    BACKOFF_MAX_S = 10.0

    def __init__(self, config: Config, bus: Bus, sessions: sessionmaker[Session], snapshots: SnapshotStore,
                 stop: threading.Event, name: str = "events"):
        self.cfg, self.ev, self.bus, self.sessions = config, config.events, bus, sessions
        self.snapshots, self.stop, self.name = snapshots, stop, name
        self.stream = bus.keys.detections
        self.db_ok = True
        self._cams: dict[str, _Camera] = {}
        self._open: dict[str, int] = {}  # entry id -> faces in it not settled yet
        self._acks: list[str] = []
        self._order = itertools.count()
        self._counts = Counter(processed=0, violations=0, suppressed=0, bad_entries=0, db_rejected=0)
        self._lag_s = 0.0
        self._pending = 0
        self._next_status = 0.0
        self._webhook = _Webhook(self.ev.webhook_url, self.ev.webhook_timeout_s, stop) \
            if self.ev.webhook_url else None

    def counters(self) -> dict[str, int | float]:
        out: dict[str, int | float] = dict(self._counts)
        out.update(pending=self._pending, lag_s=round(self._lag_s, 3), db_ok=int(self.db_ok),
                   webhook_errors=self._webhook.errors if self._webhook else 0)
        return out

    def run(self) -> None:
        self.bus.ensure_group(self.stream, GROUP, "0")
        if self._webhook:
            self._webhook.start()
        log.info("events: consumer %s of group %s started", self.name, GROUP)
        try:
            # our own unacked entries first: what a crash or stop left unsettled
            self._receive(self.bus.read_group(GROUP, self.name, [self.stream], PENDING_COUNT, None,
                                              pending=True))
            while not self.stop.is_set():
                try:
                    self._tick()
                except redis.ResponseError as e:
                    if "NOGROUP" not in str(e):
                        raise
                    log.warning("events: stream or group gone (Redis reset?), recreating it")
                    self.bus.ensure_group(self.stream, GROUP, "0")
                except redis.RedisError as e:
                    log.warning("events: redis unavailable (%s), retrying", type(e).__name__)
                    self.stop.wait(1.0)
        except _Interrupted:
            log.info("events: stopped while the database was down; unsettled entries stay pending")
        finally:
            try:  # marks, then the acks gathered so far (they follow committed work only)
                self._flush()
            except redis.RedisError as e:
                log.warning("events: final acks not written (%s); they are replayed", type(e).__name__)
            self._publish_status(force=True)
            if self._webhook:
                self._webhook.join()
            log.info("events: consumer %s stopped", self.name)

    def _tick(self) -> None:
        entries = self.bus.read_group(GROUP, self.name, [self.stream], READ_COUNT, self._block_ms())
        self._receive(entries)
        self._release_due()
        self._expire_idle()
        self._flush()
        self._publish_status()

    def _block_ms(self) -> int | None:
        """Wake when the oldest held entry is due; None: do not block (0 would block forever)."""
        tops = [c.heap[0][2] + self.ev.reorder_s for c in self._cams.values() if c.heap]
        wait = min([MAX_BLOCK_S] + [t - time.monotonic() for t in tops])
        return int(wait * 1000) if wait >= 0.001 else None

    def _receive(self, entries: list[Entry]) -> None:
        now = time.monotonic()
        for e in entries:
            try:
                msg = decode(e.fields)
                check(msg)
            except WireError as err:
                self._counts["bad_entries"] += 1
                log.warning("entry %s: skipped, not a valid detections message: %s", e.id, err)
                self._acks.append(e.id)
                continue
            cam = self._camera(msg.camera)
            heapq.heappush(cam.heap, (msg.captured_at, next(self._order), now, e.id, msg))
            cam.last_rx = now

    def _camera(self, cam_id: str) -> _Camera:
        cam = self._cams.get(cam_id)
        if cam is None:
            cam = self._cams[cam_id] = _Camera(Tracker(self.ev))
            try:  # never raise here: the entries of this read are already delivered to us
                raw = self.bus.get_blob(self._marks_key(cam_id))
                cam.tracker.seed([Mark.from_list(v) for v in json.loads(raw)] if raw else [])
            except (redis.RedisError, ValueError, TypeError) as e:
                log.warning("camera %s: cooldown marks not restored (%s)", cam_id, type(e).__name__)
        return cam

    def _marks_key(self, cam_id: str) -> str:
        return self.bus.keys.events_marks(cam_id)

    def _release_due(self) -> None:
        """Release each camera's held entries in capture order once they were held reorder_s."""
        now = time.monotonic()
        for cam_id, cam in self._cams.items():
            while cam.heap and cam.heap[0][2] + self.ev.reorder_s <= now:
                _, _, _, entry_id, msg = heapq.heappop(cam.heap)
                try:
                    self._process(cam_id, cam, entry_id, msg)
                except (_Interrupted, redis.RedisError):
                    raise
                except Exception:  # a poison entry must not crash-loop the service on every replay
                    log.exception("camera %s: entry %s could not be processed, skipped", cam_id, entry_id)
                    self._counts["bad_entries"] += 1
                    self._acks.append(entry_id)

    def _process(self, cam_id: str, cam: _Camera, entry_id: str, msg: DetectionMsg) -> None:
        self._counts["processed"] += 1
        self._lag_s = max(0.0, time.time() - msg.captured_at)
        cam.last_capture = max(cam.last_capture, msg.captured_at)
        if not msg.faces:
            self._acks.append(entry_id)
            self._apply(cam_id, cam.tracker.expire(msg.captured_at))  # an empty frame still moves time on
            return
        info = FrameInfo(msg.width, msg.height, msg.model_version, tuple(f.box for f in msg.faces))
        sightings = [Sighting(msg.captured_at, f.box, f.p_no_mask, msg.threshold, entry_id, i, f.score,
                              msg.crops[i], msg.frame_jpeg, info, msg.min_face_score)
                     for i, f in enumerate(msg.faces)]
        self._open[entry_id] = len(sightings)
        self._apply(cam_id, cam.tracker.update(msg.captured_at, sightings))

    def _expire_idle(self) -> None:
        """End tracks of a camera that went quiet: its capture clock stopped, wall time did not."""
        now = time.monotonic()
        for cam_id, cam in self._cams.items():
            idle = now - cam.last_rx
            if cam.tracker.tracks and not cam.heap and idle > self.ev.track_max_gap_s:
                self._apply(cam_id, cam.tracker.expire(cam.last_capture + idle))

    def _apply(self, cam_id: str, step: Step) -> None:
        for tr in step.suppressed:
            self._counts["suppressed"] += 1
            log.info("camera %s: track %d passed the vote inside a cooldown, no violation", cam_id, tr.id)
        if step.fired or step.ended:
            self._commit(cam_id, step)
        for s in step.settled:
            left = self._open.get(s.entry_id, 0) - 1
            if left > 0:
                self._open[s.entry_id] = left
            elif self._open.pop(s.entry_id, None) is not None:
                self._acks.append(s.entry_id)

    def _commit(self, cam_id: str, step: Step) -> None:
        fired = [(violation_id(cam_id, tr.fired.entry_id, tr.fired.face), tr) for tr in step.fired]
        created = self._with_db(lambda session: self._write(session, cam_id, fired, step.ended)) or {}
        for vid, tr in fired:
            if vid not in created:
                log.info("camera %s: violation %s (track %d) already stored", cam_id, vid, tr.id)
                continue
            self._counts["violations"] += 1
            log.info("camera %s: violation %s (track %d)", cam_id, vid, tr.id)
            if self._webhook:
                f = created[vid]
                self._webhook.post({"id": vid, "camera": cam_id, "first_seen": f["first_seen"].isoformat(),
                                    "p_no_mask": round(f["p_no_mask"], 4), "box": f["box"],
                                    "crop_path": f["crop_path"], "frame_path": f["frame_path"]})

    def _write(self, session: Session, cam_id: str, fired: list[tuple[str, Track]],
               ended: list[Track]) -> dict[str, dict]:
        """One transaction: new violations (files first, then rows) and the camera-hour counts."""
        created: dict[str, dict] = {}
        hours: Counter[tuple[dt.datetime, str]] = Counter()
        for vid, tr in fired:
            if session.get(Violation, vid) is not None:
                continue  # a replay: the stored row and its files stay as they are
            fields = self._snapshot(vid, cam_id, tr)
            if repo.insert_violation_if_absent(session, **fields):
                created[vid] = fields
                hours[_hour(tr.first_seen), "violations"] += 1
        for tr in ended:
            hours[_hour(tr.first_seen), "sightings"] += tr.count
            hours[_hour(tr.first_seen), "people"] += tr.count >= 2
            if tr.state is State.VIOLATION and tr.fired is not None:
                repo.extend_violation(session, violation_id(cam_id, tr.fired.entry_id, tr.fired.face),
                                      utc(tr.last_seen), tr.count)
        for hour in {h for h, _ in hours}:
            repo.add_camera_hour(session, cam_id, hour, **{k: n for (h, k), n in hours.items() if h == hour})
        return created

    def _snapshot(self, vid: str, cam_id: str, tr: Track) -> dict:
        best, info = tr.best, tr.best.info
        first = utc(tr.first_seen)
        crop_rel, frame_rel = self.snapshots.relpaths(vid, first)
        frame = render_frame(best, info, self.cfg.snapshots)
        if frame is None:  # workers always send the frame with a candidate face; keep going if not
            log.warning("camera %s: violation %s has no usable frame, storing the crop twice", cam_id, vid)
        self.snapshots.write(crop_rel, best.crop)
        self.snapshots.write(frame_rel, frame or best.crop)
        return dict(id=vid, camera_id=cam_id, track_id=tr.id, first_seen=first, last_seen=utc(tr.last_seen),
                    p_no_mask=best.p_no_mask, face_score=best.score, box=[round(v, 1) for v in best.box],
                    frame_width=info.width, frame_height=info.height, sightings=tr.count,
                    crop_path=crop_rel, frame_path=frame_rel, model_version=tr.fired.info.model_version[:64],
                    review_status=ReviewStatus.pending)

    def _with_db(self, work: Callable[[Session], T]) -> T | None:
        """Run `work` in a transaction until it commits (transient failures back off and retry);
        None when the database rejects the data itself."""
        delay = self.BACKOFF_INITIAL_S
        while True:
            try:
                with self.sessions.begin() as session:  # commits, or rolls back on any exception
                    result = work(session)
                self._db_back()
                return result
            except (IntegrityError, DataError) as e:  # the same data fails every time: do not stall
                self._counts["db_rejected"] += 1
                log.error("events: database rejected a write (%s), dropped", type(e.orig).__name__)
                return None
            except DBAPIError as e:  # connection lost, server down, locked
                self._db_down(e)
            except OSError as e:  # the snapshot volume: full, read-only, gone
                log.error("events: cannot write snapshots under %s (%s), holding detections unacked",
                          self.snapshots.root, e.strerror or type(e).__name__)
                self._publish_status(force=True)
            self._publish_status()
            if self.stop.wait(delay):
                raise _Interrupted
            delay = min(delay * 2, self.BACKOFF_MAX_S)

    def _db_down(self, e: Exception) -> None:
        if self.db_ok:  # once per outage: the class only, a message may carry host or user
            log.warning("events: database unavailable (%s), holding detections unacked",
                        type(getattr(e, "orig", None) or e).__name__)
            self.db_ok = False
            self._publish_status(force=True)  # the dashboard shows the outage now, not in a second

    def _db_back(self) -> None:
        if not self.db_ok:
            log.info("events: database is back")
            now = time.monotonic()
            for cam in self._cams.values():
                cam.last_rx = now  # we did not read while stalled: that silence is not the camera's
        self.db_ok = True

    def _flush(self, marks: bool = True) -> None:
        # marks before acks: a violator's entries must never be gone while their mark is not stored
        for cam_id, cam in self._cams.items() if marks else ():
            if cam.tracker.marks_changed:
                marks = sorted(cam.tracker.cooldown_marks(), key=lambda m: m.t)[-MARKS_KEPT:]
                data = json.dumps([m.to_list() for m in marks])
                self.bus.put_blob(self._marks_key(cam_id), data.encode(), ttl_s=MARKS_TTL_S)
                cam.tracker.marks_changed = False
        if self._acks:
            self.bus.ack(self.stream, GROUP, self._acks)
            self._acks = []

    def _publish_status(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_status:
            return
        self._next_status = now + STATUS_INTERVAL_S
        try:
            self._pending = self.bus.pending_count(self.stream, GROUP)
            self.bus.put_hash(self.bus.keys.events_status,
                              {**self.counters(), "updated_at": round(time.time(), 3)}, ttl_s=STATUS_TTL_S)
        except redis.RedisError as e:  # status is best effort; the loop reports Redis outages
            log.debug("events: status not published (%s)", type(e).__name__)


def _hour(ts: float) -> dt.datetime:
    return utc(ts).replace(minute=0, second=0, microsecond=0)
