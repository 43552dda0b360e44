"""Retention: delete violations older than N days with their files (crop, frame, clip), and old camera_hours;
then, oldest first, as many more as it takes to keep the snapshot folder under retention.max_gb and
the disk it is on above retention.min_free_gb. Violations an operator confirmed are kept longest:
`retention.confirmed_days` by age, and for space only once no other violation is left.

Files go first, rows second, batch by batch: a crash in between leaves rows whose files are gone
(deleted again on the next run), never files that no row points to any more.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session, sessionmaker

from maskwatch.config import RetentionConfig
from maskwatch.storage.snapshots import SnapshotStore
from maskwatch.storage.tables import CameraHour, ReviewStatus, Violation

log = logging.getLogger(__name__)
BATCH = 500


GB = 1024 ** 3


def _delete_files(snapshots: SnapshotStore, rels: list[str]) -> tuple[set[Path], int]:
    """Remove the files; returns their folders (to drop the ones left empty) and the bytes freed."""
    folders: set[Path] = set()
    freed = 0
    for rel in rels:
        try:
            path = snapshots.resolve(rel)
            if path.is_file():
                freed += path.stat().st_size
            path.unlink(missing_ok=True)
            folders.add(path.parent)
        except ValueError:
            log.warning("prune: stored snapshot path %r leaves the snapshot folder; not touched", rel)
        except OSError as e:
            log.warning("prune: cannot delete %s: %s", rel, e)
    return folders, freed


def _remove_empty(snapshots: SnapshotStore, folders: set[Path]) -> None:
    # day folders (YYYY/MM/DD) and their parents, deepest first, never the root itself
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        while folder != snapshots.root and folder.is_relative_to(snapshots.root):
            try:
                os.rmdir(folder)
            except OSError:  # not empty (or already gone): its parents are not empty either
                break
            folder = folder.parent


def _files(row) -> tuple[str | None, ...]:
    """A violation's files: its crop, its frame and its clip (None until it has one)."""
    return row.crop_path, row.frame_path, row.clip_path


def _delete_rows(sessions: sessionmaker[Session], snapshots: SnapshotStore, rows) -> int:
    """Files first, then the rows; the bytes freed."""
    folders, freed = _delete_files(snapshots, [p for r in rows for p in _files(r) if p])
    with sessions() as s:
        s.execute(delete(Violation).where(Violation.id.in_([r.id for r in rows])))
        s.commit()
    _remove_empty(snapshots, folders)
    return freed


CONFIRMED = Violation.review_status == ReviewStatus.confirmed


def _oldest(sessions: sessionmaker[Session], cutoff: dt.datetime | None, confirmed_cutoff: dt.datetime | None = None,
            limit: int = BATCH) -> list:
    """The oldest violations (before the cutoffs, when given): the confirmed ones last."""
    with sessions() as s:
        query = select(Violation.id, Violation.crop_path, Violation.frame_path, Violation.clip_path,
                       Violation.first_seen)
        if cutoff is not None:
            query = query.where(or_(and_(~CONFIRMED, Violation.first_seen < cutoff),
                                    and_(CONFIRMED, Violation.first_seen < (confirmed_cutoff or cutoff))))
        return s.execute(query.order_by(CONFIRMED, Violation.first_seen, Violation.id).limit(limit)).all()


def _prune_batch(sessions: sessionmaker[Session], snapshots: SnapshotStore, cutoff: dt.datetime,
                 confirmed_cutoff: dt.datetime | None) -> int:
    rows = _oldest(sessions, cutoff, confirmed_cutoff)
    if rows:
        _delete_rows(sessions, snapshots, rows)
    return len(rows)


def prune(sessions: sessionmaker[Session], snapshots: SnapshotStore, days: float,
          now: dt.datetime | None = None, confirmed_days: float | None = None) -> int:
    """Delete violations first seen more than `days` ago (confirmed ones: `confirmed_days`, None:
    `days` too), their files, and camera_hours rows older than `days`.

    Returns the number of violations deleted.
    """
    if days <= 0 or (confirmed_days is not None and confirmed_days <= 0):
        raise ValueError("retention days must be positive")
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    cutoff = now - dt.timedelta(days=days)
    confirmed_cutoff = None if confirmed_days is None else now - dt.timedelta(days=confirmed_days)
    total = 0
    while True:
        n = _prune_batch(sessions, snapshots, cutoff, confirmed_cutoff)
        total += n
        if n < BATCH:
            break
    with sessions() as s:
        hours = s.execute(delete(CameraHour).where(CameraHour.hour < cutoff)).rowcount
        s.commit()
    log.info("prune: deleted %d violations and %d camera hours older than %s", total, hours or 0,
             cutoff.isoformat(timespec="seconds"))
    return total


def folder_bytes(root: Path) -> int:
    """Bytes of every file under `root`."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.stat(os.path.join(folder, name)).st_size
            except OSError:  # deleted meanwhile
                pass
    return total


def _size(snapshots: SnapshotStore, rel: str) -> int:
    try:
        return snapshots.resolve(rel).stat().st_size
    except (ValueError, OSError):
        return 0


def prune_space(sessions: sessionmaker[Session], snapshots: SnapshotStore, max_gb: float | None,
                min_free_gb: float, disk_free: Callable[[Path], int] | None = None) -> int:
    """Delete the oldest violations and their files while the snapshot folder holds more than
    `max_gb` (None: no cap) or its disk has less than `min_free_gb` free; the number deleted.
    `disk_free(root)`: free bytes on root's disk (default: shutil.disk_usage)."""
    return _prune_space(sessions, snapshots, max_gb, min_free_gb, disk_free)[0]


def _prune_space(sessions: sessionmaker[Session], snapshots: SnapshotStore, max_gb: float | None,
                 min_free_gb: float, disk_free: Callable[[Path], int] | None = None) -> tuple[int, int]:
    """prune_space's work: (the number deleted, the snapshot folder's bytes after it)."""
    free_of = disk_free or (lambda root: shutil.disk_usage(root).free)
    snapshots.root.mkdir(parents=True, exist_ok=True)
    used, free = folder_bytes(snapshots.root), free_of(snapshots.root)
    need = max(0.0 if max_gb is None else used - max_gb * GB, min_free_gb * GB - free)
    total, until = 0, None
    while need > 0:
        rows = _oldest(sessions, None)
        if not rows:
            break  # nothing of ours left to delete: the disk is full of something else
        take = []
        for r in rows:  # only as many as the room wanted, oldest first
            take.append(r)
            need -= sum(_size(snapshots, p) for p in _files(r) if p)
            if need <= 0:
                break
        freed = _delete_rows(sessions, snapshots, take)
        total, used, free, until = total + len(take), used - freed, free + freed, take[-1].first_seen
    if total:
        log.warning("prune: snapshots at %.2f GB (retention.max_gb %s), %.2f GB free on their disk "
                    "(retention.min_free_gb %g): deleted the %d oldest violations, up to %s", used / GB,
                    "none" if max_gb is None else f"{max_gb:g}", free / GB, min_free_gb, total,
                    until.isoformat(timespec="seconds") if until else "-")
    if free < min_free_gb * GB:
        log.error("prune: only %.2f GB free on the snapshot disk and no snapshot left to delete: free some "
                  "space (retention.min_free_gb %g)", free / GB, min_free_gb)
    return total, used


@dataclass(frozen=True)
class Pruned:
    """One retention run: what it deleted, and the snapshot folder's size after it (shown on the
    cameras page and in /metrics beside the disk's free space, which the dashboard measures itself)."""
    at: float              # epoch seconds
    by_age: int            # violations older than retention.days (confirmed_days)
    for_space: int         # the oldest, for retention.max_gb or retention.min_free_gb
    folder_bytes: int      # the snapshot folder after the run


def prune_once(sessions: sessionmaker[Session], snapshots: SnapshotStore, retention: RetentionConfig) -> Pruned:
    by_age = prune(sessions, snapshots, retention.days, confirmed_days=retention.confirmed_days)
    # the folder is walked once a run, by the space check: its size after it is what is shown
    for_space, used = _prune_space(sessions, snapshots, retention.max_gb, retention.min_free_gb)
    return Pruned(time.time(), by_age, for_space, used)


def prune_forever(sessions: sessionmaker[Session], snapshots: SnapshotStore, retention: RetentionConfig,
                  stop: threading.Event, report: Callable[[Pruned], None] = lambda p: None) -> None:
    """Prune every retention.prune_interval_s until `stop` is set (for a long-running service);
    `report` gets each run's Pruned."""
    while not stop.is_set():
        try:
            report(prune_once(sessions, snapshots, retention))
        except Exception:  # a database hiccup must not end the loop; the next round retries
            log.exception("prune: failed; retrying in %.0f s", retention.prune_interval_s)
        stop.wait(retention.prune_interval_s)
