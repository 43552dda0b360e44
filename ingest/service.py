"""`maskwatch ingest`: a CameraReader thread (and its capture process) per enabled camera, until stopped."""
from __future__ import annotations

import logging
import threading

from maskwatch.bus import Bus
from maskwatch.config import Config
from maskwatch.ingest.reader import CameraReader
from maskwatch.ingest.source import configure_ffmpeg

log = logging.getLogger(__name__)


class IngestService:
    def __init__(self, config: Config, bus: Bus, stop: threading.Event, cameras: list[str] | None = None):
        configure_ffmpeg()
        chosen = [c for c in config.cameras if c.enabled and (cameras is None or c.id in cameras)]
        self.readers = [CameraReader(c, config.ingest, config.redis, bus, stop) for c in chosen]
        self.stop = stop

    def run(self) -> None:
        if not self.readers:
            log.warning("ingest: no enabled cameras in the config")
        for r in self.readers:
            r.start()
        try:
            while not self.stop.wait(1.0):
                pass
        finally:
            self.stop.set()
            for r in self.readers:
                r.join(timeout=15)
                if r.is_alive():
                    log.warning("camera %s: reader did not stop within 15 s", r.cam.id)
            log.info("ingest: stopped")
