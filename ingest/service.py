"""`maskwatch ingest`: a CameraReader thread (and its capture process) per enabled camera, until
stopped, and the ClipDesk that makes violations' clips (and sends their evidence frames, when asked
for) from the frames they keep.

The camera list follows the site's at runtime (maskwatch.camera_set): a camera added or enabled on
the dashboard gets a reader within about a second, a removed or disabled one has its reader
stopped, an edited one is restarted alone; no other camera's reader is touched.
"""
from __future__ import annotations

import logging
import threading

from maskwatch.bus import Bus
from maskwatch.camera_set import POLL_S, CameraWatch, Diff
from maskwatch.camera_source import configure_ffmpeg
from maskwatch.config import CameraConfig, Config
from maskwatch.ingest.clips import ClipDesk, FrameRing
from maskwatch.ingest.reader import CameraReader

log = logging.getLogger(__name__)
JOIN_S = 15.0


class IngestService:
    def __init__(self, config: Config, bus: Bus, stop: threading.Event, cameras: list[str] | None = None):
        configure_ffmpeg()
        self.cfg, self.bus, self.stop, self.only = config, bus, stop, cameras
        self.watch = CameraWatch(config, bus)
        self.rings: dict[str, FrameRing] = {}
        self._readers: dict[str, tuple[CameraReader, threading.Event]] = {}
        for cam in config.cameras:
            self._add(cam, start=False)
        self.desk = ClipDesk(config.snapshots.clip, bus, self.rings, stop, config.snapshots.jpeg_quality)

    @property
    def readers(self) -> list[CameraReader]:
        return [r for r, _ in self._readers.values()]

    def _mine(self, cam: CameraConfig) -> bool:
        return cam.enabled and (self.only is None or cam.id in self.only)

    def _add(self, cam: CameraConfig, start: bool = True) -> None:
        if not self._mine(cam):
            return
        if self.cfg.snapshots.clip.enabled or self.cfg.evidence_on_request:
            self.rings[cam.id] = FrameRing.of(self.cfg.snapshots.clip, stills=self.cfg.evidence_on_request)
        own = threading.Event()  # this camera's stop: set with the service's, or when it leaves
        reader = CameraReader(cam, self.cfg.ingest, self.cfg.redis, self.bus, own, ring=self.rings.get(cam.id))
        self._readers[cam.id] = (reader, own)
        if start:
            reader.start()
            log.info("camera %s: added at runtime", cam.id)

    def _drop(self, cam_id: str, why: str) -> None:
        entry = self._readers.pop(cam_id, None)
        self.rings.pop(cam_id, None)
        if entry is not None:
            entry[1].set()
            log.info("camera %s: %s, its reader stops", cam_id, why)
            # joined aside: a capture stuck in an open must not hold up the other cameras' changes
            threading.Thread(target=entry[0].join, args=(JOIN_S,), name=f"stop-{cam_id}", daemon=True).start()

    def apply(self, change: Diff) -> None:
        for cam in change.removed:
            self._drop(cam.id, "removed")
        for _, after in change.changed:
            self._drop(after.id, "changed" if after.enabled else "disabled")
            self._add(after)
        for cam in change.added:
            self._add(cam)

    def run(self) -> None:
        if not self._readers:
            log.warning("ingest: no enabled cameras yet")
        for r in self.readers:
            r.start()
        self.desk.start()
        try:
            while not self.stop.wait(POLL_S):
                change = self.watch.poll()
                if change:
                    self.apply(change)
        finally:
            self.stop.set()
            for _, own in self._readers.values():
                own.set()
            for r in self.readers:
                r.join(timeout=JOIN_S)
                if r.is_alive():
                    log.warning("camera %s: reader did not stop within 15 s", r.cam.id)
            if self.desk.is_alive():
                self.desk.join(timeout=JOIN_S)
            log.info("ingest: stopped")
