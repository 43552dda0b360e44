"""Violation snapshots on disk: a face crop, the annotated full frame and a clip per violation.

Paths are derived from the violation id and date only, never from a request, and every write is
atomic (temporary file in the same folder, fsync, rename), so a crash never leaves half a JPEG.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from pathlib import Path

_ID = re.compile(r"^[0-9a-f]{8,40}$")


class SnapshotStore:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()

    def relpaths(self, violation_id: str, when: dt.datetime) -> tuple[str, str]:
        """(crop, frame) paths relative to the root, for a violation first seen at `when`."""
        if not _ID.match(violation_id):
            raise ValueError(f"violation id {violation_id!r} is not a hex id")
        day = when.astimezone(dt.UTC).strftime("%Y/%m/%d")
        return f"{day}/{violation_id}_crop.jpg", f"{day}/{violation_id}_frame.jpg"

    @staticmethod
    def clip_relpath(crop_rel: str, violation_id: str) -> str:
        """A violation's clip: beside its crop, in the same day folder."""
        if not _ID.match(violation_id):
            raise ValueError(f"violation id {violation_id!r} is not a hex id")
        folder = crop_rel.rpartition("/")[0]
        return f"{folder}/{violation_id}_clip.mp4" if folder else f"{violation_id}_clip.mp4"

    def write(self, rel: str, data: bytes) -> Path:
        path = self.resolve(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=Path(rel).suffix)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def resolve(self, rel: str) -> Path:
        """The absolute path of a stored relative path; refuses anything outside the root."""
        path = (self.root / rel).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"snapshot path {rel!r} leaves the snapshot folder")
        return path

    def delete(self, rel: str) -> None:
        self.resolve(rel).unlink(missing_ok=True)
