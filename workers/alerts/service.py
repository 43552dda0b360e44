"""The alerts loop, a thread of the events service's shard 0 (one per site): camera health from
ingest's status records and the snapshot disk's free space, delivery of the outbox, and its pruning; for MQTT sinks with
ha_discovery, the cameras announced to Home Assistant and today's compliance published; the
scheduled compliance reports (workers.alerts.reports).

Every incident change is committed (the incident row and its outbox rows in one transaction)
before the next is judged; a change the database refused is kept and tried again next round, so a
database outage delays alerts and loses none.
"""
from __future__ import annotations

import datetime as dt
import logging
import shutil
import threading
import time

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from maskwatch import camera_set
from maskwatch.alerts_config import sinks_of
from maskwatch.camera_set import CameraWatch
from maskwatch.config import Config
from maskwatch.errors import BusError
from maskwatch.status import CameraStatusRecord
from maskwatch.storage import cameras as camera_table
from maskwatch.storage import outbox
from maskwatch.storage.prune import GB
from maskwatch.storage.queries import as_utc, compliance
from maskwatch.storage.tables import utc
from maskwatch.workers.alerts import homeassistant, reports
from maskwatch.workers.alerts.deliver import Deliverer
from maskwatch.workers.alerts.health import SITE, CameraHealth, Change, DiskHealth
from maskwatch.workers.alerts.sinks import SinkError, sender_for
from maskwatch.workers.alerts.writer import AlertWriter

log = logging.getLogger(__name__)
TICK_S = 1.0
PRUNE_EVERY_S = 3600.0
DISK_EVERY_S = 30.0     # free space is a statvfs away: cheap, and a disk fills in minutes at the fastest
CAMERAS_EVERY_S = 60.0  # the camera list published again: a Redis that lost its data is filled again
REPORTS_EVERY_S = 60.0  # how often the schedule is looked at (and a failed send tried again)


class AlertsService:
    def __init__(self, config: Config, bus, sessions: sessionmaker[Session], stop: threading.Event, snapshots=None):
        """`snapshots`: the violations' files, for the Home Assistant image of the last violation."""
        self.cfg, self.bus, self.sessions, self.stop = config, bus, sessions, stop
        self.writer = AlertWriter(config)
        sinks = sinks_of(config)
        crop = (lambda vid: homeassistant.crop_of(sessions, snapshots, vid)) if snapshots is not None else None
        self.deliverer = Deliverer(sessions, sinks, {s.name: sender_for(s, config.site, crop) for s in sinks},
                                   config.site, config.alerts.retry_max_s) if sinks else None
        hc = config.alerts.health
        stale_s = max(10.0, 5 * config.ingest.status_interval_s)
        self._stale_s = stale_s
        self.health = {c.id: CameraHealth(c.id, hc, stale_s) for c in config.cameras if c.enabled} \
            if hc.enabled else {}
        self.watch = CameraWatch(config, bus)
        self._cameras_due = 0.0
        warn = int(config.retention.warn_free_gb * GB)
        self.disk = DiskHealth(warn) if warn > 0 else None
        self._disk_due = 0.0
        self.waiting: list[Change] = []   # incident changes not committed yet
        self._resumed = False
        self._next_prune = 0.0
        self._db_down = False
        self.ha_sinks = [s for s in sinks if getattr(s, "ha_discovery", False)]
        self._ha_due = 0.0
        self._ha_announced: set[str] = set()
        self._reports_due = 0.0
        self.thread = threading.Thread(target=self.run, name="events-alerts", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float = 10.0) -> None:
        if self.thread.is_alive():
            self.thread.join(timeout)

    def run(self) -> None:
        log.info("alerts: %d sinks, health of %d cameras", len(self.deliverer.sinks) if self.deliverer else 0,
                 len(self.health))
        try:
            while not self.stop.is_set():
                self.tick(time.time())
                self.stop.wait(TICK_S)
        finally:
            if self.deliverer:
                self.deliverer.close()

    def tick(self, now: float) -> None:
        try:
            if not self._resumed:
                self._resume()
            if now >= self._cameras_due:
                self._publish_cameras(now)
            self._follow_cameras()
            self._check_health(now)
            self._check_disk(now)
            self._commit_waiting()
            if self.deliverer:
                self.deliverer.run_once()
            if now >= self._next_prune:
                self._prune(now)
            if self.ha_sinks and now >= self._ha_due:
                self._home_assistant(now)
            if self.cfg.reports.schedule and now >= self._reports_due:
                self._reports_due = now + REPORTS_EVERY_S
                reports.run_due(self.sessions, self.cfg, dt.datetime.fromtimestamp(now, dt.UTC), self.writer)
            if self._db_down:
                log.info("alerts: database is back")
            self._db_down = False
        except DBAPIError as e:
            if not self._db_down:
                log.warning("alerts: database unavailable (%s), alerts wait", type(e).__name__)
            self._db_down = True

    def _resume(self) -> None:
        with self.sessions() as s:
            for inc in outbox.open_incidents(s):
                if inc.camera_id in self.health:
                    self.health[inc.camera_id].resume(inc.kind, inc.id, as_utc(inc.started_at).timestamp())
                elif inc.camera_id == SITE and inc.kind == "disk" and self.disk:
                    self.disk.resume(inc.id, as_utc(inc.started_at).timestamp())
        self._resumed = True

    def _publish_cameras(self, now: float) -> None:
        """The file's new cameras into the table, and the table's list onto the bus (this loop runs
        once a site: events shard 0)."""
        with self.sessions.begin() as s:
            added = camera_table.seed(s, self.cfg.raw_cameras)
            version, specs = camera_table.current(s)
        if added:
            log.info("cameras: %d from the config file added to the site's list", added)
        if version:  # nothing seeded nor edited yet: the services keep their file's cameras
            try:
                camera_set.publish(self.bus, version, specs)
            except BusError as e:
                log.warning("cameras: list not published (%s); trying again in a minute", type(e).__name__)
        self._cameras_due = now + CAMERAS_EVERY_S

    def _follow_cameras(self) -> None:
        change = self.watch.poll()
        if not change:
            return
        hc = self.cfg.alerts.health
        for cam in change.removed + [after for _, after in change.changed if not after.enabled]:
            self.health.pop(cam.id, None)
        for cam in change.added + [after for _, after in change.changed if after.enabled]:
            if hc.enabled and cam.id not in self.health:
                self.health[cam.id] = CameraHealth(cam.id, hc, self._stale_s)
        self.writer.names = {c.id: c.label for c in self.watch.cameras}

    def _check_health(self, now: float) -> None:
        for cam, health in self.health.items():
            try:
                rec = CameraStatusRecord.from_hash(self.bus.get_hash(self.bus.keys.camera_status(cam)))
            except (BusError, OSError) as e:  # Redis down: judge nothing rather than call every camera offline
                log.debug("alerts: camera %s status unreadable (%s)", cam, type(e).__name__)
                return
            for change in health.observe(rec, now):
                (log.warning if change.opened else log.info)(
                    "camera %s: %s incident %s %s", cam, change.kind, "opened" if change.opened else "closed",
                    change.detail)
                self.waiting.append(change)

    def _check_disk(self, now: float) -> None:
        if self.disk is None or now < self._disk_due:
            return
        self._disk_due = now + DISK_EVERY_S
        try:
            free = shutil.disk_usage(self.cfg.snapshots.dir).free
        except OSError:  # not created yet (events writes the first snapshot): nothing to judge
            return
        change = self.disk.observe(free, now)
        if change is not None:
            (log.warning if change.opened else log.info)("snapshot disk: incident %s, %s",
                                                         "opened" if change.opened else "closed", change.detail)
            self.waiting.append(change)

    def _commit_waiting(self) -> None:
        while self.waiting:
            ch = self.waiting[0]
            with self.sessions.begin() as s:
                if ch.opened:
                    outbox.open_incident(s, ch.incident_id, ch.camera, ch.kind, utc(ch.started_at), ch.detail)
                else:
                    outbox.close_incident(s, ch.incident_id, utc(ch.at))
                self.writer.incident(s, incident_id=ch.incident_id, camera=ch.camera, kind=ch.kind,
                                     state="opened" if ch.opened else "closed", started_at=utc(ch.started_at),
                                     ended_at=None if ch.opened else utc(ch.at), detail=ch.detail)
            self.waiting.pop(0)

    def _home_assistant(self, now: float) -> None:
        """Announce the cameras to Home Assistant once per sink, then publish today's compliance."""
        zone = self.cfg.zone
        midnight = dt.datetime.fromtimestamp(now, zone).replace(hour=0, minute=0, second=0, microsecond=0)
        with self.sessions() as s:
            offline = {i.camera_id for i in outbox.open_incidents(s) if i.kind == "offline"}
            rates = {c.camera_id: c.rate for c in compliance(s, midnight, dt.datetime.fromtimestamp(now, dt.UTC))}
        cameras = [(c.id, c.label) for c in self.cfg.cameras if c.enabled]
        self._ha_due = now + homeassistant.COMPLIANCE_EVERY_S
        for sink in self.ha_sinks:
            sender = self.deliverer.senders[sink.name]
            try:
                if sink.name not in self._ha_announced:
                    done = homeassistant.announce(sender, cameras, sink.discovery_prefix, offline)
                    log.info("alerts: sink %s: %d Home Assistant entities announced, %d removed", sink.name,
                             done["announced"], done["removed"])
                    self._ha_announced.add(sink.name)
                homeassistant.publish_compliance(sender, {c: rates.get(c) for c, _ in cameras})
            except SinkError as e:
                log.warning("alerts: sink %s: Home Assistant not updated (%s); trying again in a minute", sink.name, e)
                self._ha_due = now + 60

    def _prune(self, now: float) -> None:
        a = self.cfg.alerts
        with self.sessions.begin() as s:
            done, dropped = outbox.prune(s, utc(now - a.keep_days * 86_400), utc(now - a.give_up_days * 86_400))
        if dropped:
            log.error("alerts: %d messages undelivered for %g days were dropped", dropped, a.give_up_days)
        self._next_prune = now + PRUNE_EVERY_S
