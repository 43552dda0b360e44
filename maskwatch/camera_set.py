"""Cameras at runtime: the site's camera list on the bus, so that ingest, workers and events pick up
a camera added, edited, disabled or removed on the dashboard without restarting any other.

The list lives in the database (maskwatch.storage.cameras, seeded from the config file); whoever
changes it publishes all of it under its version (`publish`): the dashboard after an edit, events
shard 0 when it starts and once a minute (so a Redis that lost its data is filled again). The
entries keep their ${ENV} placeholders: each service fills them from its own environment, so a
camera's password lives only where the camera is read, and never in the database or on the bus.

`CameraWatch.poll` reads the bus at most once a POLL_S (one GET), however often a service loop
calls it; it hands back a change only when the version moved, and `diff` says which cameras
changed, so a service restarts those alone.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass

from maskwatch.config import CameraConfig, Config, ConfigError, parse_camera
from maskwatch.errors import BusError
from maskwatch.service import Every

log = logging.getLogger(__name__)
POLL_S = 1.0


class Unfilled(dict):
    """An environment for a service that never opens a camera (the dashboard) or for checking an
    entry without its secrets: every ${VAR} reads as a harmless word, so the entry validates
    whatever the variables will hold where the camera is read."""

    def __contains__(self, name) -> bool:
        return True

    def __getitem__(self, name) -> str:
        return "unfilled"


def publish(bus, version: int, specs: list[dict]) -> None:
    bus.put_blob(bus.keys.cameras(), json.dumps({"version": version, "cameras": specs}).encode())


def read(bus) -> tuple[int, list[dict]] | None:
    blob = bus.get_blob(bus.keys.cameras())
    if not blob:
        return None
    try:
        data = json.loads(blob)
        return int(data["version"]), list(data["cameras"])
    except (ValueError, KeyError, TypeError):
        log.error("cameras: the published list is not readable; keeping the cameras as they are")
        return None


def parse_cameras(specs: list[dict], config: Config, env: dict[str, str]) -> list[CameraConfig]:
    """The published cameras this service can use; one it cannot (a ${VAR} not set on this host,
    a bad value) is left out with an error naming it, and the others go on."""
    out = []
    for spec in specs:
        try:
            out.append(parse_camera(spec, env, config.schedules))
        except ConfigError as e:
            log.error("cameras: %s; left out", e)
    return out


@dataclass(frozen=True)
class Diff:
    added: list[CameraConfig]
    removed: list[CameraConfig]
    changed: list[tuple[CameraConfig, CameraConfig]]   # (before, after)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def diff(before: list[CameraConfig], after: list[CameraConfig]) -> Diff:
    old, new = {c.id: c for c in before}, {c.id: c for c in after}
    return Diff([c for i, c in new.items() if i not in old], [c for i, c in old.items() if i not in new],
                [(old[i], c) for i, c in new.items() if i in old and old[i] != c])


class CameraWatch:
    """A service's view of the camera list: the config file's until a list is published."""

    def __init__(self, config: Config, bus, env: dict[str, str] | None = None, every_s: float = POLL_S):
        self.config, self.bus = config, bus
        self.env = dict(os.environ) if env is None else env
        self.cameras: list[CameraConfig] = list(config.cameras)
        self.version = -1
        self._due = Every(every_s)

    def poll(self, now: bool = False) -> Diff | None:
        """The change since the last look, when the published list moved; None otherwise (and
        between looks: at most one a POLL_S, or at once with `now`)."""
        if not (self._due() or now):
            return None
        try:
            got = read(self.bus)
        except BusError as e:  # the bus's own outage handling reports it: keep the cameras as they are
            log.debug("cameras: list not read (%s)", type(e).__name__)
            return None
        if got is None or got[0] == self.version:
            return None
        self.version = got[0]
        before, self.cameras = self.cameras, parse_cameras(got[1], self.config, self.env)
        change = diff(before, self.cameras)
        if change:
            log.info("cameras: list version %d: %d added, %d removed, %d changed", self.version,
                     len(change.added), len(change.removed), len(change.changed))
        return change
