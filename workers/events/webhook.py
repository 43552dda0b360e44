"""POSTs new violations from a daemon thread, so a slow receiver never holds the pipeline."""
from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.request

log = logging.getLogger(__name__)


class Webhook:
    def __init__(self, url: str, timeout_s: float, stop: threading.Event):
        self.url, self.timeout_s, self.stop = url, timeout_s, stop
        self.errors = 0
        self._queue: queue.Queue[dict] = queue.Queue(maxsize=100)
        self._thread = threading.Thread(target=self._run, name="events-webhook", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def post(self, payload: dict) -> None:
        try:
            self._queue.put_nowait(payload)
        except queue.Full:
            self.errors += 1
            log.warning("webhook: violation %s dropped, receiver too slow", payload["id"])

    def join(self) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout=self.timeout_s + 1)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                payload = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            req = urllib.request.Request(self.url, data=json.dumps(payload).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    resp.read(1024)
            except Exception as e:  # noqa: BLE001 (any failure: the thread must live; the URL may hold a token)
                self.errors += 1
                log.warning("webhook: violation %s not delivered (%s)", payload["id"], type(e).__name__)
