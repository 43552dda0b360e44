"""What one dashboard app holds: config, sessions, bus, snapshot store, login limiter, metrics.

Stored in app.extensions, never in module globals, so tests and `maskwatch run` can build several
apps side by side with different databases and buses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from maskwatch.config import Config
from maskwatch.storage.snapshots import SnapshotStore

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from maskwatch.dashboard.limiter import LoginLimiter

EXTENSION = "maskwatch"


@dataclass
class State:
    config: Config
    sessions: sessionmaker[Session]
    bus: Any | None          # maskwatch.bus.Bus; None when the dashboard has no bus to read
    snapshots: SnapshotStore
    limiter: LoginLimiter
    registry: CollectorRegistry
    watch: Any | None = None      # maskwatch.camera_set.CameraWatch: the cameras at runtime

    @property
    def camera_ids(self) -> list[str]:
        return [c.id for c in self.config.cameras]

    def camera_label(self, cam_id: str) -> str:
        for cam in self.config.cameras:
            if cam.id == cam_id:
                return cam.label
        return cam_id


def state() -> State:
    return current_app.extensions[EXTENSION]


def scan_keys(bus: Any, pattern: str) -> list[str]:
    """Keys matching a glob pattern, on either bus."""
    return sorted(bus.scan_keys(pattern))
