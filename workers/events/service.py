"""The events service: detections -> per-camera tracks, votes and identities -> violations (SQL + files).

Ack policy, so that a crash loses nothing and duplicates nothing: an entry is acked only once every
face in it is settled (workers.tracker): its track's violation is committed, the track rejoined an
earlier violation or ended, or the sighting left a still-voting track's window. A replay after a
crash therefore sees every open vote window again and fires at the same entry, and the violation
id (workers.events.changes) is the same, so the insert is a no-op. Violators still in view when
the process died are recognised by appearance (identities kept in Redis for `revisit_s`), not
reported a second time; their row's last_seen and sightings go on advancing.

This class runs the loop and delegates: CameraFeed reorders, Tracker decides, changes_of turns a
step into typed values, Store writes them, AckLedger acks, IdentityMemory persists violators,
ClipPlanner asks ingest for each new violation's clip and Store keeps the clip that comes back
(workers.events.clips: a lost clip never costs a violation).
Each process owns one shard of the cameras (maskwatch.shards); tracking needs all of a camera's
entries in one place, and a shard's stream carries only its own cameras. A violation's alerts are
outbox rows written with it (Store); shard 0 also runs the site's alerts loop in a thread of its
own (workers.alerts: camera health, delivery). A face outside its camera's mask policy (zones,
schedule) is tracked but cannot vote no-mask.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter

from sqlalchemy.orm import Session, sessionmaker

from maskwatch.bus import Bus, Entry
from maskwatch.camera_set import CameraWatch
from maskwatch.config import Config
from maskwatch.errors import BusError, NoGroup
from maskwatch.geometry import clamp_box
from maskwatch.policy import required
from maskwatch.shards import Shard
from maskwatch.status import EventsStatusRecord
from maskwatch.storage.snapshots import SnapshotStore
from maskwatch.wire import WireError
from maskwatch.wire.detections import DetectionMsg, decode
from maskwatch.workers.alerts.service import AlertsService
from maskwatch.workers.alerts.writer import AlertWriter
from maskwatch.workers.events.changes import Changes, Stored, changes_of, extensions
from maskwatch.workers.events.clips import ClipExchange, ClipPlanner
from maskwatch.workers.events.feed import CameraFeed
from maskwatch.workers.events.ledger import AckLedger
from maskwatch.workers.events.memory import IdentityMemory
from maskwatch.workers.events.render import FrameInfo
from maskwatch.workers.events.store import Interrupted, Store
from maskwatch.workers.events.validate import check
from maskwatch.workers.tracker import Sighting, Step, Tracker

log = logging.getLogger(__name__)

GROUP = "events"
READ_COUNT = 100
PENDING_COUNT = 10_000  # the pending list is small in steady state; this bounds a replay's memory
MAX_BLOCK_S = 0.5
STATUS_INTERVAL_S = 1.0
WATCHED_FLUSH_S = 60.0  # watched seconds a camera gathers before they are written
STATUS_TTL_S = 30        # a dead service's status disappears instead of looking healthy


class EventsService:
    def __init__(self, config: Config, bus: Bus, sessions: sessionmaker[Session], snapshots: SnapshotStore,
                 stop: threading.Event, name: str = "events", shard: Shard | None = None, *,
                 writer: AlertWriter | None = None, alerts: AlertsService | None = None):
        """`writer`: the outbox rows a violation's alerts become (None: no sink asks for them);
        `alerts`: the site's alerts loop (camera health, delivery) that this shard runs in a thread of
        its own, shard 0's. The composition root (maskwatch.builders) wires both."""
        self.cfg, self.ev, self.bus, self.stop, self.name = config, config.events, bus, stop, name
        self.shard = shard or Shard(0, config.events.shards)
        self.stream = bus.keys.detections(self.shard.index)
        self.clip_stream = bus.keys.clips(self.shard.index)
        self.clips = ClipPlanner(config.snapshots.clip, config.snapshots.blur_faces, self.shard.index)
        self.store = Store(sessions, snapshots, config.snapshots, stop, lambda: self._publish_status(force=True),
                           alerts=writer)
        self.store.on_db_back = self._db_back
        self.memory = IdentityMemory(bus, self.ev.revisit_s)
        self.ledger = AckLedger()
        self._cams: dict[str, CameraFeed] = {}
        self._counts = Counter(processed=0, violations=0, rejoined=0, bad_entries=0, wrong_shard=0,
                               unknown_camera=0, not_judged=0, still_faces=0, clips=0, clips_missing=0,
                               stills=0, stills_missing=0)
        # a site's config lists its cameras: an entry for any other is refused (an events process
        # given no camera list, as in some tests, takes every camera of its shard)
        self.watch = CameraWatch(config, bus)  # the site's cameras at runtime (maskwatch.camera_set)
        self._cameras(config.cameras)
        self.exchange = ClipExchange(self.clips, bus, self.clip_stream, GROUP, name, self.store,
                                     self._counts)
        self._latency_s = 0.0
        self._backlog_s = 0.0
        self._pending = 0
        self._next_status = 0.0
        self._alerts = alerts

    @property
    def db_ok(self) -> bool:
        return self.store.db_ok

    @property
    def problem(self) -> str:
        """What is wrong, in words for the dashboard; "" when nothing is."""
        if not self.store.db_ok:
            return "database unavailable"
        if not self.store.snapshots_ok:
            return "snapshot store failing"
        return ""

    def status(self) -> EventsStatusRecord:
        # lag: the age of the oldest detection not settled yet (settled ones are deleted), so a
        # stall shows as a growing lag however little gets processed; latency: of the last one
        return EventsStatusRecord(**self._counts, pending=self._pending, lag_s=round(self._backlog_s, 3),
                                  latency_s=round(self._latency_s, 3), problem=self.problem,
                                  db_ok=int(self.store.db_ok), snapshots_ok=int(self.store.snapshots_ok),
                                  db_rejected=self.store.rejected, shard=str(self.shard), cameras=len(self._cams),
                                  updated_at=round(time.time(), 3))

    def counters(self) -> dict[str, int | float | str]:
        return self.status().to_hash()

    def run(self) -> None:
        self.bus.ensure_group(self.stream, GROUP, "0")
        self.bus.ensure_group(self.clip_stream, GROUP, "0")
        if self._alerts:
            self._alerts.start()
        log.info("events: consumer %s of group %s started, shard %s", self.name, GROUP, self.shard)
        try:
            # our own unacked entries first: what a crash or stop left unsettled
            self._receive(self.bus.read_group(GROUP, self.name, [self.stream], PENDING_COUNT, None,
                                              pending=True))
            self.exchange.receive(pending=True)
            while not self.stop.is_set():
                try:
                    self._tick()
                except NoGroup:
                    log.warning("events: stream or group gone (Redis reset?), recreating it")
                    self._retry(lambda: [self.bus.ensure_group(s, GROUP, "0") for s in (self.stream, self.clip_stream)])
                except BusError as e:
                    log.warning("events: bus unavailable (%s), retrying", type(e).__name__)
                    self.stop.wait(1.0)
        except Interrupted:
            log.info("events: stopped while the database was down; unsettled entries stay pending")
        finally:
            try:  # rows, identities, then the acks gathered so far (they follow committed work only)
                self._flush(final=True)
            except (BusError, Interrupted) as e:  # the database or the bus is down at the stop
                log.warning("events: final acks not written (%s); they are replayed", type(e).__name__)
            self._publish_status(force=True)
            if self._alerts:
                self._alerts.join()
            log.info("events: consumer %s stopped", self.name)

    def _retry(self, work) -> None:
        try:
            work()
        except BusError as e:  # the next tick tries again
            log.warning("events: bus unavailable (%s), retrying", type(e).__name__)
            self.stop.wait(1.0)

    def _tick(self) -> None:
        self._follow_cameras()
        entries = self.bus.read_group(GROUP, self.name, [self.stream], READ_COUNT, self._block_ms())
        self._receive(entries)
        self._release_due()
        self._expire_idle()
        self._flush()
        self.exchange.ask(time.monotonic())
        self.exchange.receive()
        self._publish_status()

    def _cameras(self, cameras) -> None:
        self._known = {c.id for c in cameras}
        self._policies = {c.id: c.policy for c in cameras if c.policy is not None}

    def _follow_cameras(self) -> None:
        if self.watch.poll():
            self._cameras(self.watch.cameras)

    def _block_ms(self) -> int | None:
        """Wake when the oldest held entry is due; None: do not block (0 would block forever)."""
        dues = [d for c in self._cams.values() if (d := c.next_due(self.ev.reorder_s)) is not None]
        wait = min([MAX_BLOCK_S] + [d - time.monotonic() for d in dues])
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
                self.ledger.skip(e.id)
                continue
            if self._known and msg.camera not in self._known:
                self._counts["unknown_camera"] += 1
                log.warning("entry %s: camera %r is not in the config, skipped", e.id, msg.camera)
                self.ledger.skip(e.id)
                continue
            if not self.shard.owns(msg.camera):  # a worker routing by another events.shards
                self._counts["wrong_shard"] += 1
                log.warning("entry %s: camera %s is not in shard %s, skipped", e.id, msg.camera, self.shard)
                self.ledger.skip(e.id)
                continue
            self._camera(msg.camera).push(e.id, msg, now)

    def _camera(self, cam_id: str) -> CameraFeed:
        cam = self._cams.get(cam_id)
        if cam is None:
            cam = self._cams[cam_id] = CameraFeed(Tracker(self.ev))
            cam.tracker.seed(self.memory.load(cam_id))  # never raises: these entries are delivered already
        return cam

    def _release_due(self) -> None:
        """Release each camera's held entries in capture order once they were held reorder_s."""
        now = time.monotonic()
        for cam_id, cam in self._cams.items():
            for entry_id, msg in cam.due(now, self.ev.reorder_s):
                try:
                    self._process(cam_id, cam, entry_id, msg)
                except (Interrupted, BusError):
                    raise
                except Exception:  # a poison entry must not crash-loop the service on every replay
                    log.exception("camera %s: entry %s could not be processed, skipped", cam_id, entry_id)
                    self._counts["bad_entries"] += 1
                    self.ledger.drop(entry_id)

    def _process(self, cam_id: str, cam: CameraFeed, entry_id: str, msg: DetectionMsg) -> None:
        self._counts["processed"] += 1
        self._latency_s = max(0.0, time.time() - msg.captured_at)
        moved = cam.camera_moved(msg.pose)
        if moved is not None:  # a panning camera: where faces were moves with the picture
            cam.tracker.warp(moved)
        if not msg.faces:
            self.ledger.skip(entry_id)
            self.clips.seen(cam_id, msg.captured_at, ())
            self._apply(cam_id, cam.tracker.expire(msg.captured_at))  # an empty frame still moves time on
            return
        self.ledger.hold(entry_id, len(msg.faces))
        pol = self._policies.get(cam_id)
        # a camera without a policy requires a mask everywhere, always: nothing to evaluate per face
        under = None if pol is None else \
            (lambda box: required(pol, self.cfg.schedules, self.cfg.zone, box, msg.width, msg.height, msg.captured_at))
        faces = sightings(entry_id, msg, under)
        step = cam.tracker.update(msg.captured_at, faces)
        track_of = {s.face: tr.id for tr, s in step.matched if s.entry_id == entry_id}
        self.clips.seen(cam_id, msg.captured_at, tuple((s.box, track_of.get(s.face)) for s in faces))
        self._apply(cam_id, step)

    def _expire_idle(self) -> None:
        """End tracks of a camera that went quiet: its capture clock stopped, wall time did not."""
        now = time.monotonic()
        for cam_id, cam in self._cams.items():
            idle = now - cam.last_rx
            if cam.tracker.tracks and not cam.heap and idle > self.ev.track_max_gap_s:
                self._apply(cam_id, cam.tracker.expire(cam.last_capture + idle))

    def _apply(self, cam_id: str, step: Step) -> None:
        cam = self._cams[cam_id]
        for tr in step.rejoined:
            self._counts["rejoined"] += 1
            log.info("camera %s: track %d is a violator seen before (%.2f alike%s), their violation goes on",
                     cam_id, tr.id, tr.rejoin.similarity, ", on course" if tr.rejoin.on_course else "")
        self._ended(cam_id, step)
        changes = changes_of(cam_id, step)
        if changes:
            created = self.store.commit(changes)
            if created is None:  # rejected: no row, so no identity may stand for one
                for tr in step.fired:
                    cam.tracker.identities.discard(tr.identity)
            else:  # committed (or already there): the identities may persist
                for tr in step.fired:
                    tr.identity.committed = True
                for tr in step.rejoined + step.ended:
                    if tr.identity is not None and tr.identity.violation is not None:
                        tr.identity.unwritten = False  # just written
                self._report(cam_id, changes, created)
        self.ledger.settle(step.settled)

    def _ended(self, cam_id: str, step: Step) -> None:
        for tr in step.ended:
            if tr.tally == "still":
                self._counts["still_faces"] += 1
                log.info("camera %s: track %d passed the vote but never moved (%.2f of its width in %.0f s): "
                         "a picture, not reported", cam_id, tr.id, tr.reach, tr.last_seen - tr.first_seen)
            elif tr.tally == "not_judged":
                self._counts["not_judged"] += 1

    def _report(self, cam_id: str, changes: Changes, created: dict[str, Stored]) -> None:
        for v in changes.new:
            if v.best.frame is None:  # asked of ingest (a replay asks again: the same frame is drawn)
                self.clips.want_still(cam_id, v.id, v.track_id, v.best, time.monotonic())
            if v.id not in created:
                log.info("camera %s: violation %s (track %d) already stored", cam_id, v.id, v.track_id)
                continue
            self._counts["violations"] += 1
            log.info("camera %s: violation %s (track %d)", cam_id, v.id, v.track_id)
            self.clips.want(cam_id, v.id, v.track_id, v.decided_at, time.monotonic())

    def _db_back(self) -> None:
        now = time.monotonic()
        for cam in self._cams.values():
            cam.last_rx = now  # we did not read while stalled: that silence is not the camera's

    def _flush(self, final: bool = False) -> None:
        # rows, then identities, then acks: nothing acked may be ahead of the database, and a
        # violator's entries are never gone while their identity is not stored
        for cam_id, cam in self._cams.items():
            registry = cam.tracker.identities
            ext = extensions(cam_id, registry)
            # watched seconds ride along, a minute's worth at a time (every second would be a write
            # a camera a second); a crash loses at most that minute of coverage, never a row
            for hour, n in cam.take_watched(1.0 if final else WATCHED_FLUSH_S).items():
                ext.hours[hour, "watched_s"] += n
            if ext:
                self.store.commit(ext)  # written, or rejected for good (counted): not retried each tick
                for ident in registry.committed():
                    ident.unwritten = False
            self.memory.save(cam_id, registry)
        acks = self.ledger.take()
        if acks:
            try:
                # settled means committed, and this group is the stream's only reader: delete them,
                # so Redis holds only what is not settled yet (bounded by the vote windows)
                self.bus.ack(self.stream, GROUP, acks, delete=True)
            except BusError:
                self.ledger.give_back(acks)
                raise

    def _publish_status(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_status:
            return
        self._next_status = now + STATUS_INTERVAL_S
        try:
            self._pending = self.bus.pending_count(self.stream, GROUP)
            self._backlog_s = self.bus.oldest_age_s(self.stream)
            self.bus.put_hash(self.bus.keys.events_status(self.shard.index), self.status().to_hash(),
                              ttl_s=STATUS_TTL_S)
        except BusError as e:  # status is best effort; the loop reports bus outages
            log.debug("events: status not published (%s)", type(e).__name__)


def sightings(entry_id: str, msg: DetectionMsg, under_policy=None) -> list[Sighting]:
    """The faces of one entry; under_policy(box) False: a face where or when no mask is required
    (None: required for every face)."""
    boxes = [clamp_box(f.box, msg.width, msg.height) for f in msg.faces]
    info = FrameInfo(msg.width, msg.height, msg.model_version, tuple(boxes))
    embs = msg.embeddings or [None] * len(msg.faces)  # decode() made them float32 unit vectors
    under = [under_policy(b) for b in boxes] if under_policy else [True] * len(boxes)
    return [Sighting(msg.captured_at, boxes[i], f.p_no_mask, msg.threshold, entry_id, i, f.score, msg.crops[i],
                     msg.frame_jpeg, info, msg.min_face_score, embs[i], under[i], f.p_incorrect)
            for i, f in enumerate(msg.faces)]
