"""The detection worker: stateless, any number of replicas on any hosts.

Replicas share the camera streams through one Redis consumer group. Each loop forms a batch across
cameras (up to batch_size frames, waiting at most max_wait_ms once the first frame is in), skips
frames older than max_frame_age_s and all but the newest frame of a camera it is behind on (counted,
acked: latest-frame semantics, no backlog), runs face detection and ONE classification over
all faces of the batch, publishes one `detections` entry per frame, then acks the frames. Frames a
dead replica left pending are claimed after claim_idle_s (and dropped if stale by then).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass

import cv2
import numpy as np

from maskwatch.annotate import incorrect_flags, label, verdicts
from maskwatch.backoff import Backoff
from maskwatch.bus import Bus, Entry
from maskwatch.camera_set import CameraWatch
from maskwatch.config import Config
from maskwatch.errors import BusError, NoGroup
from maskwatch.models.appearance import with_clothing
from maskwatch.models.crops import cut_square, square_region
from maskwatch.models.pipeline import MaskPipeline
from maskwatch.service import Every
from maskwatch.shards import shard_of
from maskwatch.status import WorkerStatusRecord, split_per_camera
from maskwatch.wire import WireError
from maskwatch.wire import detections as wire_det
from maskwatch.wire import frames as wire_frames
from maskwatch.wire import live as wire_live
from maskwatch.workers.evidence import EvidencePacer
from maskwatch.workers.roi import inside

log = logging.getLogger(__name__)
GROUP = "workers"
CROP_PX = 112


@dataclass
class Frame:
    entry: Entry
    msg: wire_frames.FrameMsg
    image: np.ndarray
    received_at: float


class Worker:
    BACKOFF_INITIAL_S = 0.5
    BACKOFF_MAX_S = 2.0  # a retry every 2 s costs the server nothing and recovery is prompt

    def __init__(self, config: Config, bus: Bus, pipeline: MaskPipeline, stop: threading.Event,
                 name: str, model_version: str):
        self.cfg, self.bus, self.pipeline, self.stop, self.name = config, bus, pipeline, stop, name
        self.model_version = model_version
        self.watch = CameraWatch(config, bus)  # the site's cameras at runtime (maskwatch.camera_set)
        self._cameras(config.cameras)
        self.counts: Counter[str] = Counter()
        self.latest: dict[str, float] = {}
        self.stage_ms: Counter[str] = Counter()
        self._live_due: dict[str, float] = {}
        self._watched: dict[str, bool] = {}     # per camera: someone looks at its live view
        self._watch_checks: dict[str, Every] = {}  # ...asked of the bus once a second
        # None: events asks ingest for a violation's frame (worker.evidence_frames), none goes from here
        self._evidence = None if config.evidence_on_request else EvidencePacer(config.worker.evidence_interval_s)
        self._status = Every(1.0)
        self._claim = Every(max(1.0, config.worker.claim_idle_s / 2))

    def run(self) -> None:
        log.info("worker %s: serving %d cameras, batch %d", self.name, len(self.streams),
                 self.cfg.worker.batch_size)
        backoff, groups, down = Backoff(self.BACKOFF_INITIAL_S, self.BACKOFF_MAX_S), False, False
        try:
            while not self.stop.is_set():
                try:
                    if self._follow_cameras() or not groups:
                        self._ensure_groups()
                        groups = True
                    self._step()
                    if down:
                        log.info("worker %s: bus is back", self.name)
                    down = False
                    backoff.reset()
                except NoGroup:
                    log.warning("worker %s: frame streams or group gone (Redis reset?), recreating", self.name)
                    self.counts["bus_errors"] += 1
                    groups = False
                    self.stop.wait(0.2)
                except BusError as e:  # unreachable, or refusing writes (maxmemory): wait and retry
                    if not down:  # once per outage; the batch in hand stays pending and is claimed later
                        log.warning("worker %s: bus unavailable (%s), retrying with backoff", self.name, e)
                    self.counts["bus_errors"] += 1
                    down, groups = True, False  # a Redis restarted without its data lost the groups
                    self.stop.wait(backoff.next())
        finally:
            self._publish_status(state="stopped")
            log.info("worker %s: stopped after %d frames", self.name, self.counts["processed"])

    def _cameras(self, cameras) -> None:
        self.streams = [self.bus.keys.frames(c.id) for c in cameras if c.enabled]
        self.camera_of = {self.bus.keys.frames(c.id): c.id for c in cameras}  # a stream names its camera
        self.rois = {c.id: c.roi for c in cameras}
        self.max_sides = {c.id: c.max_side for c in cameras if c.max_side}  # cameras' own detector caps

    def _follow_cameras(self) -> bool:
        """Take up the site's camera list when it changed; True when there are new streams to join."""
        if not self.watch.poll():
            return False
        before = set(self.streams)
        self._cameras(self.watch.cameras)
        return bool(set(self.streams) - before)

    def _ensure_groups(self) -> None:
        for s in self.streams:
            self.bus.ensure_group(s, GROUP, "$")

    def _step(self) -> None:
        batch = self._collect()
        if batch:
            self._process_safely(batch)
        if self._status():
            self._publish_status()

    # -- batching ---------------------------------------------------------------------------

    def _collect(self) -> list[Frame]:
        w = self.cfg.worker
        if not self.streams:
            self.stop.wait(1.0)
            return []
        entries: list[Entry] = []
        if self._claim():
            entries += self._claim_idle()
        entries += self._read(w.batch_size, 500)
        deadline = time.monotonic() + w.max_wait_ms / 1000
        while entries and len(entries) < w.batch_size and time.monotonic() < deadline:
            more = self._read(w.batch_size - len(entries), max(1, int((deadline - time.monotonic()) * 1000)))
            if not more:
                break
            entries += more
        return self._admit(entries)

    def _read(self, wanted: int, block_ms: int) -> list[Entry]:
        # COUNT applies per stream: share the wanted frames out so a batch stays near batch_size,
        # but drain a camera's backlog (capped by frames_maxlen) so that only its newest is kept
        per_stream = max(-(-wanted // len(self.streams)), self.cfg.redis.frames_maxlen)
        return self.bus.read_group(GROUP, self.name, self.streams, per_stream, block_ms=block_ms)

    def _claim_idle(self) -> list[Entry]:
        out = []
        for s in self.streams:
            claimed, deleted = self.bus.claim_idle(s, GROUP, self.name, int(self.cfg.worker.claim_idle_s * 1000),
                                                   self.cfg.worker.batch_size)
            self.counts["claimed"] += len(claimed)
            self.counts["dropped_trimmed"] += len(deleted)
            out += claimed
        return out

    def _admit(self, entries: list[Entry]) -> list[Frame]:
        """Decode, age-check and keep the newest frame per camera; bad, stale and superseded
        frames are acked and counted, never processed."""
        now = time.time()
        # age by the bus clock (which stamped the entry id), not by the ingest host's clock: an
        # edge host whose clock is off must not make every frame look stale, or fresh
        bus_now = self.bus.now() if entries else now
        newest: dict[str, tuple[Entry, wire_frames.FrameMsg]] = {}
        drop = []
        for e, msg in self._valid(entries, bus_now, drop):
            # latest-frame semantics: behind on a camera, skip straight to its newest frame
            old = newest.get(msg.camera)
            if old is not None:
                if _stream_key(old[0].id) > _stream_key(e.id):
                    old, (e, msg) = (e, msg), old
                drop.append(old[0])
                self.counts["dropped_superseded"] += 1
                self.counts[f"dropped:{msg.camera}"] += 1
            newest[msg.camera] = (e, msg)
        frames = []
        for e, msg in newest.values():
            t0 = time.perf_counter()
            img = cv2.imdecode(np.frombuffer(msg.jpeg, np.uint8), cv2.IMREAD_COLOR)
            self.stage_ms["decode"] += (time.perf_counter() - t0) * 1000
            if img is None:
                log.warning("camera %s: frame %d is not a decodable JPEG, skipped", msg.camera, msg.seq)
                self.counts["bad_frames"] += 1
                drop.append(e)
                continue
            frames.append(Frame(e, msg, img, now))
        self._ack(drop)
        return frames

    def _valid(self, entries: list[Entry], bus_now: float, drop: list[Entry]):
        """(entry, frame message) for entries that decode and are fresh enough."""
        for e in entries:
            try:
                msg = wire_frames.decode(e.fields)
            except WireError as err:
                log.warning("stream %s: entry %s skipped: %s", e.stream, e.id, err)
                self.counts["bad_entries"] += 1
                drop.append(e)
                continue
            if msg.camera != self.camera_of.get(e.stream):  # the stream says whose frame it is
                log.warning("stream %s: entry %s claims camera %r, skipped", e.stream, e.id, msg.camera[:64])
                self.counts["bad_entries"] += 1
                drop.append(e)
                continue
            if bus_now - _stream_key(e.id)[0] / 1000 > self.cfg.worker.max_frame_age_s:
                self.counts["dropped_stale"] += 1
                self.counts[f"dropped:{msg.camera}"] += 1
                drop.append(e)
                continue
            yield e, msg

    # -- inference and publishing ---------------------------------------------------------

    def _process_safely(self, batch: list[Frame]) -> None:
        try:
            self._process(batch)
        except BusError:
            raise  # the bus's trouble, not the batch's: run() waits for it and retries
        except Exception:
            # a bug or a poison frame: leave the batch pending; it is claimed again later and
            # dropped once older than max_frame_age_s, so one bad frame cannot wedge the worker
            log.exception("worker %s: batch of %d frames failed", self.name, len(batch))
            self.counts["errors"] += 1

    def _process(self, batch: list[Frame]) -> None:
        times = self.pipeline.times
        d0, c0 = times.detect_s, times.classify_s
        # faces below the least score that may vote can never be violations: not worth a classifier
        # call; and where ingest saw no change since the camera's last frame, no detection is needed
        caps = [self.max_sides.get(f.msg.camera) for f in batch]
        results = self.pipeline.run([f.image for f in batch], skip_doubtful=True, classify_from=self.vote_bar,
                                    regions=[f.msg.regions for f in batch], max_sides=caps if any(caps) else None)
        if self.cfg.worker.appearance == "face+clothing":
            results = [with_clothing(f.image, det) for f, det in zip(batch, results)]
        for f in batch:
            kind = "full" if f.msg.regions is None else "regions" if f.msg.regions else "still"
            self.counts[f"{kind}_frames"] += 1
            self.counts[f"{kind}:{f.msg.camera}"] += 1
        self.stage_ms["detect"] += (times.detect_s - d0) * 1000
        self.stage_ms["classify"] += (times.classify_s - c0) * 1000
        done = time.time()
        for f, det in zip(batch, results):
            det = inside(det, self.rois.get(f.msg.camera), f.msg.width, f.msg.height)
            stream = self.bus.keys.detections(shard_of(f.msg.camera, self.cfg.events.shards))
            self.bus.add(stream, wire_det.encode(self._message(f, det, done)),
                         maxlen=self.cfg.redis.detections_maxlen)
            if f.msg.regions is None:  # a full look: what the live view shows stays complete
                self._maybe_live(f, det, done)
            self.counts["processed"] += 1
            self.counts[f"processed:{f.msg.camera}"] += 1
            # the capture time of the newest frame done per camera: the dashboard's lag in seconds
            self.latest[f"frame_ts:{f.msg.camera}"] = max(self.latest.get(f"frame_ts:{f.msg.camera}", 0.0),
                                                          f.msg.captured_at)
            self.counts["faces"] += len(det)
            self.stage_ms["latency"] += (done - f.msg.captured_at) * 1000
        self.counts["batches"] += 1
        self._ack([f.entry for f in batch])

    @property
    def vote_bar(self) -> float:
        """The least detector score of a face that may vote (the events service knows the track and
        decides)."""
        return self.cfg.events.vote_bar(self.pipeline.min_face_score)

    def _message(self, f: Frame, det, done: float) -> wire_det.DetectionMsg:
        thr = self.pipeline.threshold
        shares = det.p_incorrect if det.p_incorrect is not None else np.zeros(len(det), np.float32)
        faces = [wire_det.Face(tuple(float(v) for v in b), float(s), float(p), round(float(q), 4))
                 for b, s, p, q in zip(det.boxes, det.scores, det.p_no_mask, shares)]
        candidate = det.violations(thr, self.vote_bar)
        # a crop is evidence: only a face that may become a violation needs one
        crops = [_jpeg(cv2.resize(cut_square(f.image, square_region(b, wire_det.CROP_MARGIN)), (CROP_PX, CROP_PX)),
                       self.cfg.worker.crop_jpeg_quality) if c else b"" for b, c in zip(det.boxes, candidate)]
        embs = [] if det.embeddings is None else [e if e.any() else None for e in det.embeddings]
        return wire_det.DetectionMsg(
            camera=f.msg.camera, seq=f.msg.seq, captured_at=f.msg.captured_at, detected_at=done,
            worker=self.name, model_version=self.model_version, width=f.msg.width, height=f.msg.height,
            threshold=thr, min_face_score=self.pipeline.min_face_score, faces=faces, crops=crops, embeddings=embs,
            frame_jpeg=self._evidence_frame(f, det.boxes[candidate], done),
            pose=f.msg.pose,
            timings_ms={"queue": round((f.received_at - f.msg.captured_at) * 1000, 1),
                        "total": round((done - f.msg.captured_at) * 1000, 1)})

    def _evidence_frame(self, f: Frame, candidates: np.ndarray, done: float) -> bytes | None:
        """The frame, when it goes with the detections: never when events asks ingest for the one a
        violation needs (worker.evidence_frames), else paced (maskwatch.workers.evidence)."""
        if self._evidence is None:
            return None
        return f.msg.jpeg if self._evidence.send(f.msg.camera, candidates, done) else None

    def _is_watched(self, cam: str) -> bool:
        """Whether the dashboard has asked for this camera's live view lately (checked once a second)."""
        if self._watch_checks.setdefault(cam, Every(1.0))():
            self._watched[cam] = self.bus.get_blob(self.bus.keys.watched(cam)) is not None
        return self._watched.get(cam, False)

    def _maybe_live(self, f: Frame, det, done: float) -> None:
        cam = f.msg.camera
        if time.monotonic() < self._live_due.get(cam, 0.0) or not self._is_watched(cam):
            return
        self._live_due[cam] = time.monotonic() + self.cfg.worker.live_interval_s
        thr = self.pipeline.threshold
        probs = det.p_no_mask if det.p_no_mask is not None else [float("nan")] * len(det)
        kinds, wrong = verdicts(det, thr, self.pipeline.min_face_score), incorrect_flags(det)
        faces = [wire_live.LiveFace(tuple(float(v) for v in b), kind, label(float(p), thr, w))
                 for b, p, kind, w in zip(det.boxes, probs, kinds, wrong)]
        frame = wire_live.LiveFrame(cam, f.msg.captured_at, done, f.msg.width, f.msg.height, faces, f.msg.jpeg)
        self.bus.put_blob(self.bus.keys.live(cam), wire_live.encode(frame), ttl_s=60)

    def _ack(self, entries) -> None:
        by_stream: dict[str, list[str]] = {}
        for e in entries:
            by_stream.setdefault(e.stream, []).append(e.id)
        for stream, ids in by_stream.items():
            self.bus.ack(stream, GROUP, ids)

    def _publish_status(self, state: str = "running") -> None:
        n = max(self.counts["processed"], 1)
        totals, per_camera = split_per_camera({**self.counts, **self.latest})
        status = WorkerStatusRecord(state, time.time(), self.model_version, self.pipeline.classifier.backend,
                                    getattr(self.pipeline.detector, "backend", ""), counts=totals,
                                    stage_ms={k: round(v / n, 2) for k, v in self.stage_ms.items()},
                                    per_camera=per_camera)
        try:
            self.bus.put_hash(self.bus.keys.worker_status(self.name), status.to_hash(), ttl_s=120)
        except BusError as e:  # best effort: a worker must outlive the bus it reports to
            log.debug("worker %s: status not published (%s)", self.name, type(e).__name__)


def _stream_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _jpeg(img: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()

