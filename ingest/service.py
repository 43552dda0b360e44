"""`maskwatch ingest`: a CameraReader thread (and its capture process) per enabled camera, until
stopped, and the ClipDesk that makes violations' clips from the frames they keep."""
from __future__ import annotations

import logging
import threading

from maskwatch.bus import Bus
from maskwatch.config import Config
from maskwatch.ingest.clips import ClipDesk, FrameRing
from maskwatch.ingest.reader import CameraReader
from maskwatch.ingest.source import configure_ffmpeg

log = logging.getLogger(__name__)


class IngestService:
    def __init__(self, config: Config, bus: Bus, stop: threading.Event, cameras: list[str] | None = None):
        configure_ffmpeg()
        chosen = [c for c in config.cameras if c.enabled and (cameras is None or c.id in cameras)]
        clip = config.snapshots.clip
        self.rings = {c.id: FrameRing.of(clip) for c in chosen} if clip.enabled else {}
        self.readers = [CameraReader(c, config.ingest, config.redis, bus, stop, ring=self.rings.get(c.id))
                        for c in chosen]
        self.desk = ClipDesk(clip, bus, self.rings, stop)
        self.stop = stop

    def run(self) -> None:
        if not self.readers:
            log.warning("ingest: no enabled cameras in the config")
        for r in self.readers:
            r.start()
        self.desk.start()
        try:
            while not self.stop.wait(1.0):
                pass
        finally:
            self.stop.set()
            for r in self.readers:
                r.join(timeout=15)
                if r.is_alive():
                    log.warning("camera %s: reader did not stop within 15 s", r.cam.id)
            if self.desk.is_alive():
                self.desk.join(timeout=15)
            log.info("ingest: stopped")
