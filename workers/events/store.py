"""The events service's database side: one transaction per step's changes, retried until it commits.

Files are written before rows (a row never points at a missing file); when the database rejects
the rows themselves, the files written for them are removed again.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from maskwatch.backoff import Backoff
from maskwatch.config import SnapshotConfig
from maskwatch.storage import repo
from maskwatch.storage.snapshots import SnapshotStore
from maskwatch.storage.tables import ReviewStatus, Verdict, Violation, utc
from maskwatch.workers.events.changes import Changes, NewViolation, Stored, hour_of
from maskwatch.workers.events.render import render_evidence, render_frame

log = logging.getLogger(__name__)
T = TypeVar("T")


class Interrupted(Exception):
    """stop was set while the database was unavailable: leave the rest unacked for a replay."""


class Store:
    BACKOFF_INITIAL_S = 0.5
    BACKOFF_MAX_S = 2.0  # a retry every 2 s costs the server nothing and recovery is prompt

    def __init__(self, sessions: sessionmaker[Session], snapshots: SnapshotStore, snap_cfg: SnapshotConfig,
                 stop: threading.Event, on_state: Callable[[], None], alerts=None):
        self.sessions, self.snapshots, self.snap_cfg, self.stop = sessions, snapshots, snap_cfg, stop
        self.alerts = alerts  # workers.alerts.writer.AlertWriter: outbox rows in the violation's transaction
        self.on_state = on_state  # called when db_ok or snapshot_ok changes, and while retrying
        self.db_ok = True
        self.snapshots_ok = True
        self.rejected = 0
        self.on_db_back: Callable[[], None] = lambda: None

    def commit(self, changes: Changes) -> dict[str, Stored] | None:
        """Write the changes; the new violations that this call created (a replay creates none),
        or None when the database rejected them."""
        written: list[str] = []
        return self._with_db(lambda s: self._write(s, changes, written), written)

    def keep_clip(self, violation_id: str, mp4: bytes) -> bool:
        """Write a violation's clip beside its snapshots and point the row at it; False when the row
        is gone (pruned, or rejected) or has a clip already (a replay): then no file stays."""
        written: list[str] = []
        return bool(self._with_db(lambda s: self._clip(s, violation_id, mp4, written), written))

    def _clip(self, session: Session, violation_id: str, mp4: bytes, written: list[str]) -> bool:
        row = session.get(Violation, violation_id)
        if row is None or row.clip_path:
            return False
        rel = self.snapshots.clip_relpath(row.crop_path, violation_id)
        self.snapshots.write(rel, mp4)
        written.append(rel)
        if repo.set_clip(session, violation_id, rel):
            return True
        self.snapshots.delete(rel)  # pruned meanwhile: no file may outlive its row
        return False

    def keep_still(self, violation_id: str, jpeg: bytes) -> bool:
        """Draw a violation's evidence frame (sent by ingest when asked for, worker.evidence_frames)
        over the crop that stood in for it; False when the row is gone or the JPEG unreadable."""
        return bool(self._with_db(lambda s: self._still(s, violation_id, jpeg), []))

    def _still(self, session: Session, violation_id: str, jpeg: bytes) -> bool:
        row = session.get(Violation, violation_id)
        if row is None:
            return False
        incorrect = 1.0 if row.verdict == Verdict.mask_incorrect else 0.0
        frame = render_evidence(jpeg, tuple(row.box), row.face_score, row.p_no_mask, incorrect, [],
                                self.snap_cfg.jpeg_quality)
        if frame is None:
            log.warning("violation %s: its evidence frame from ingest is not a readable JPEG", violation_id)
            return False
        # replaced in place (atomic): a replay draws the same frame again, never a second file
        self.snapshots.write(row.frame_path, frame)
        if repo.confirm_frame(session, violation_id):
            return True
        self.snapshots.delete(row.frame_path)  # pruned meanwhile: no file may outlive its row
        return False

    def _write(self, session: Session, changes: Changes, written: list[str]) -> dict[str, Stored]:
        created: dict[str, Stored] = {}
        hours = changes.hours.copy()
        for v in changes.new:
            if session.get(Violation, v.id) is not None:
                continue  # a replay: the stored row and its files stay as they are
            row = self._row(v, written)
            if repo.insert_violation_if_absent(session, **row):
                created[v.id] = Stored(v, row["crop_path"], row["frame_path"])
                hours[hour_of(v.first_seen), "violations"] += 1
                if self.alerts is not None:
                    self.alerts.violation(session, violation_id=v.id, camera=v.camera, first_seen=row["first_seen"],
                                          p_no_mask=row["p_no_mask"], face_score=row["face_score"], box=row["box"],
                                          frame_size=(row["frame_width"], row["frame_height"]),
                                          model_version=row["model_version"], verdict=v.verdict)
        for e in changes.extend:
            repo.extend_violation(session, e.violation_id, utc(e.last_seen), e.sightings)
        by_hour: dict = {}
        for (hour, kind), n in hours.items():
            by_hour.setdefault(hour, {})[kind] = n
        for hour, counts in by_hour.items():
            repo.add_camera_hour(session, changes.camera, hour, **counts)
        return created

    def _row(self, v: NewViolation, written: list[str]) -> dict:
        best, info = v.best, v.best.info
        first = utc(v.first_seen)
        crop_rel, frame_rel = self.snapshots.relpaths(v.id, first)
        frame = render_frame(best, self.snap_cfg)
        if frame is None:  # asked of ingest (worker.evidence_frames): the crop stands in until it comes
            log.info("camera %s: violation %s has no frame yet, its crop stands in", v.camera, v.id)
        self.snapshots.write(crop_rel, best.crop)
        written.append(crop_rel)
        self.snapshots.write(frame_rel, frame or best.crop)
        written.append(frame_rel)
        return dict(id=v.id, camera_id=v.camera, track_id=v.track_id, first_seen=first, last_seen=utc(v.last_seen),
                    evidence_at=utc(best.captured_at),
                    p_no_mask=best.p_no_mask, face_score=best.score, box=[round(x, 1) for x in best.box],
                    frame_width=info.width, frame_height=info.height, sightings=v.sightings,
                    crop_path=crop_rel, frame_path=frame_rel, model_version=v.model_version[:64],
                    review_status=ReviewStatus.pending, verdict=Verdict(v.verdict))

    def _with_db(self, work: Callable[[Session], T], written: list[str]) -> T | None:
        """Run `work` in a transaction until it commits (transient failures back off and retry);
        None when the database rejects the data itself."""
        backoff = Backoff(self.BACKOFF_INITIAL_S, self.BACKOFF_MAX_S)
        while True:
            written.clear()
            try:
                with self.sessions.begin() as session:  # commits, or rolls back on any exception
                    result = work(session)
                self._ok()
                return result
            except (IntegrityError, DataError) as e:  # the same data fails every time: do not stall
                self.rejected += 1
                log.error("events: database rejected a write (%s), dropped", type(e.orig).__name__)
                self._remove(written)
                return None
            except DBAPIError as e:  # connection lost, server down, locked
                self._db_down(e)
            except OSError as e:  # the snapshot volume: full, read-only, gone
                if self.snapshots_ok:
                    log.error("events: cannot write snapshots under %s (%s), holding detections unacked",
                              self.snapshots.root, e.strerror or type(e).__name__)
                self.snapshots_ok = False
            self._wait(backoff.next())

    def _wait(self, delay: float) -> None:
        """Back off, reporting state at least once a second: a stall must show while it lasts."""
        deadline = time.monotonic() + delay
        while True:
            self.on_state()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self.stop.wait(min(left, 1.0)):
                raise Interrupted

    def _remove(self, paths: list[str]) -> None:
        for rel in paths:
            try:
                self.snapshots.delete(rel)
            except OSError as e:
                log.warning("events: snapshot %s of a rejected row not removed (%s)", rel, e.strerror)

    def _db_down(self, e: Exception) -> None:
        if self.db_ok:  # once per outage: the class only, a message may carry host or user
            log.warning("events: database unavailable (%s), holding detections unacked",
                        type(getattr(e, "orig", None) or e).__name__)
            self.db_ok = False
            self.on_state()  # the dashboard shows the outage now, not in a second

    def _ok(self) -> None:
        if not self.db_ok:
            log.info("events: database is back")
            self.on_db_back()
        if not self.snapshots_ok:
            log.info("events: snapshots are written again")
        self.db_ok = self.snapshots_ok = True
