"""What retention did, for the people who run the site: each run's Pruned added to the totals in
the bus's retention status hash (maskwatch.status.RetentionStatusRecord)."""
from __future__ import annotations

import logging

from maskwatch.errors import BusError
from maskwatch.status import RetentionStatusRecord
from maskwatch.storage.prune import Pruned

log = logging.getLogger(__name__)


def report_retention(bus, pruned: Pruned) -> None:
    key = bus.keys.retention_status()
    try:
        before = RetentionStatusRecord.from_hash(bus.get_hash(key))
        bus.put_hash(key, RetentionStatusRecord(
            run_at=round(pruned.at, 3), by_age=pruned.by_age, for_space=pruned.for_space,
            by_age_total=before.by_age_total + pruned.by_age, for_space_total=before.for_space_total + pruned.for_space,
            folder_bytes=pruned.folder_bytes).to_hash())
    except BusError as e:  # shown next run: the pruning itself is done
        log.warning("prune: the run's numbers not published (%s)", type(e).__name__)
