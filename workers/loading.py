"""A worker's status while its models load (workers.worker publishes it once running)."""
from __future__ import annotations

import logging
import threading
import time

from maskwatch.bus import Bus
from maskwatch.errors import BusError
from maskwatch.status import WorkerStatusRecord

log = logging.getLogger(__name__)
EVERY_S = 5.0  # well inside any probe's max age (deploy/healthcheck.py: 30 s)


class LoadingHeartbeat:
    """While a worker's models load, its status says "loading" every EVERY_S: a TensorRT engine
    build takes minutes the first time on a GPU, and a status that stopped for that long would get
    the process killed by its liveness probe, mid-build, again and again (deploy/healthcheck.py
    --alive counts "loading" as alive; readiness waits for "running")."""

    def __init__(self, bus: Bus, name: str):
        self.bus, self.name, self.every_s = bus, name, EVERY_S
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"loading-{name}", daemon=True)

    def __enter__(self) -> LoadingHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join(5)

    def _beat(self) -> None:
        while True:
            try:
                self.bus.put_hash(self.bus.keys.worker_status(self.name),
                                  WorkerStatusRecord("loading", time.time()).to_hash(), ttl_s=120)
            except BusError as e:  # best effort, as the running worker's own status
                log.debug("worker %s: loading status not published (%s)", self.name, type(e).__name__)
            if self._done.wait(self.every_s):
                return
