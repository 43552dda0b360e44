"""Violators' identities in Redis, so that one still in view after a restart is not reported again.

One hash per camera, a field per violator (named by the sighting that fired), holding the
appearance exemplars, where and when they were last seen and their sighting count. The key expires
`revisit_s` after its last write, and fields of violators the registry forgot are deleted: a
descriptor lives no longer than the dedup window, and never anywhere but memory and Redis.
"""
from __future__ import annotations

import json
import logging
import math

from maskwatch.bus import Bus
from maskwatch.errors import BusError
from maskwatch.workers.identity import Identity, Registry

log = logging.getLogger(__name__)
KEPT = 500  # newest violators persisted per camera: bounded writes and memory


class IdentityMemory:
    def __init__(self, bus: Bus, revisit_s: float):
        self.bus = bus
        self.ttl_s = max(1, math.ceil(revisit_s))

    def load(self, cam_id: str) -> list[Identity]:
        """The camera's stored violators; none (logged) when Redis or the data fails."""
        try:
            raw = self.bus.get_hash(self.bus.keys.events_identities(cam_id))
            return [Identity.from_record(json.loads(v)) for v in raw.values()]
        except (BusError, ValueError, TypeError, KeyError) as e:
            log.warning("camera %s: violators' identities not restored (%s)", cam_id, type(e).__name__)
            return []

    def save(self, cam_id: str, registry: Registry) -> None:
        """Write what changed since the last save; raises BusError (the caller retries next flush)."""
        key = self.bus.keys.events_identities(cam_id)
        gone = [i.key for i in registry.forgotten]
        dirty = sorted((i for i in registry.committed() if i.dirty), key=lambda i: i.last_seen)[-KEPT:]
        if dirty:
            self.bus.put_hash(key, {i.key: json.dumps(i.to_record(), separators=(",", ":")) for i in dirty},
                              ttl_s=self.ttl_s)
        if gone:
            self.bus.del_hash_fields(key, gone)
        for i in dirty:
            i.dirty = False
        registry.forgotten = []
