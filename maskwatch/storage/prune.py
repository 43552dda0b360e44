"""Retention: delete violations older than N days with their snapshot files, and old camera_hours.

Files go first, rows second, batch by batch: a crash in between leaves rows whose files are gone
(deleted again on the next run), never files that no row points to any more.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from maskwatch.config import RetentionConfig
from maskwatch.storage.snapshots import SnapshotStore
from maskwatch.storage.tables import CameraHour, Violation

log = logging.getLogger(__name__)
BATCH = 500


def _delete_files(snapshots: SnapshotStore, rels: list[str]) -> set[Path]:
    """Remove the files; returns their folders, to drop the ones left empty."""
    folders: set[Path] = set()
    for rel in rels:
        try:
            path = snapshots.resolve(rel)
            path.unlink(missing_ok=True)
            folders.add(path.parent)
        except ValueError:
            log.warning("prune: stored snapshot path %r leaves the snapshot folder; not touched", rel)
        except OSError as e:
            log.warning("prune: cannot delete %s: %s", rel, e)
    return folders


def _remove_empty(snapshots: SnapshotStore, folders: set[Path]) -> None:
    # day folders (YYYY/MM/DD) and their parents, deepest first, never the root itself
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        while folder != snapshots.root and folder.is_relative_to(snapshots.root):
            try:
                os.rmdir(folder)
            except OSError:  # not empty (or already gone): its parents are not empty either
                break
            folder = folder.parent


def _prune_batch(sessions: sessionmaker[Session], snapshots: SnapshotStore, cutoff: dt.datetime) -> int:
    with sessions() as s:
        rows = s.execute(select(Violation.id, Violation.crop_path, Violation.frame_path)
                         .where(Violation.first_seen < cutoff)
                         .order_by(Violation.first_seen).limit(BATCH)).all()
        if not rows:
            return 0
        folders = _delete_files(snapshots, [p for r in rows for p in (r.crop_path, r.frame_path) if p])
        s.execute(delete(Violation).where(Violation.id.in_([r.id for r in rows])))
        s.commit()
    _remove_empty(snapshots, folders)
    return len(rows)


def prune(sessions: sessionmaker[Session], snapshots: SnapshotStore, days: float,
          now: dt.datetime | None = None) -> int:
    """Delete violations first seen more than `days` ago, their files, and older camera_hours rows.

    Returns the number of violations deleted.
    """
    if days <= 0:
        raise ValueError("retention days must be positive")
    cutoff = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC) - dt.timedelta(days=days)
    total = 0
    while True:
        n = _prune_batch(sessions, snapshots, cutoff)
        total += n
        if n < BATCH:
            break
    with sessions() as s:
        hours = s.execute(delete(CameraHour).where(CameraHour.hour < cutoff)).rowcount
        s.commit()
    log.info("prune: deleted %d violations and %d camera hours older than %s", total, hours or 0,
             cutoff.isoformat(timespec="seconds"))
    return total


def prune_forever(sessions: sessionmaker[Session], snapshots: SnapshotStore, retention: RetentionConfig,
                  stop: threading.Event) -> None:
    """Prune every retention.prune_interval_s until `stop` is set (for a long-running service)."""
    while not stop.is_set():
        try:
            prune(sessions, snapshots, retention.days)
        except Exception:  # a database hiccup must not end the loop; the next round retries
            log.exception("prune: failed; retrying in %.0f s", retention.prune_interval_s)
        stop.wait(retention.prune_interval_s)
