"""The snapshot store's room, for the cameras page and /metrics: the disk's free space measured
now (the dashboard mounts the same volume), and what retention last deleted (its status hash,
written by events shard 0 after every run, maskwatch.storage.retention)."""
from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from maskwatch.config import Config
from maskwatch.errors import BusError
from maskwatch.status import RetentionStatusRecord
from maskwatch.storage.prune import GB

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StorageStatus:
    disk_total_bytes: int | None   # None: the folder is not there (yet) or cannot be read
    disk_free_bytes: int | None
    warn_free_bytes: int
    min_free_bytes: int
    retention: RetentionStatusRecord | None   # None: retention has not reported (or the bus is down)

    @property
    def low(self) -> bool:
        return self.disk_free_bytes is not None and self.disk_free_bytes < self.warn_free_bytes


def read_storage(config: Config, bus, root: Path) -> StorageStatus:
    try:
        usage = shutil.disk_usage(root)
        total, free = usage.total, usage.free
    except OSError:
        total = free = None
    try:
        h = bus.get_hash(bus.keys.retention_status()) if bus is not None else {}
        retention = RetentionStatusRecord.from_hash(h) if h else None
    except (BusError, OSError) as e:
        log.warning("storage: retention status unreadable (%s)", type(e).__name__)
        retention = None
    r = config.retention
    return StorageStatus(total, free, int(r.warn_free_gb * GB), int(r.min_free_gb * GB), retention)
