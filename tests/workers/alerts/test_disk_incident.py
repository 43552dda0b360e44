"""The snapshot disk running out of room: a "disk" incident (DiskHealth, pure) opened and closed by
the alerts loop on a real small filesystem that fills and empties, with the webhook told."""
from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import select
from support.events import REDIS_URL, database, wait_for
from support.receivers import Webhook

from maskwatch.config import parse_config
from maskwatch.storage.db import upgrade
from maskwatch.storage.tables import Incident
from maskwatch.workers.alerts.health import SITE, DiskHealth
from maskwatch.workers.alerts.service import DISK_EVERY_S, AlertsService

MB = 2 ** 20


@pytest.mark.parametrize("free_seen, opened_closed", [
    ([10, 9, 8], []),                                   # never below the warning
    ([10, 4, 3, 4], [True]),                            # below: one incident, however long
    ([4, 5.1, 5.2], [True]),                            # just above is not clear yet: no flapping
    ([4, 6, 4], [True, False, True]),                   # clear, then low again: a second incident
])
def test_a_disk_incident_opens_below_the_warning_and_closes_clear_of_it(free_seen, opened_closed):
    disk = DiskHealth(5 * MB)
    changes = [disk.observe(int(f * MB), float(t)) for t, f in enumerate(free_seen)]
    got = [c for c in changes if c is not None]
    assert [c.opened for c in got] == opened_closed
    assert all(c.camera == SITE and c.kind == "disk" for c in got)
    if len(got) >= 2:
        assert got[0].incident_id == got[1].incident_id != (got[2].incident_id if len(got) > 2 else None)


def test_the_alerts_loop_warns_before_the_real_disk_is_full(bus, tmp_path, small_disk):
    hook = Webhook().start()
    url = f"sqlite:///{tmp_path / 'disk.db'}"
    upgrade(url)
    cfg = parse_config({
        "redis": {"url": REDIS_URL, "prefix": bus.keys.prefix}, "database": {"url": url},
        "snapshots": {"dir": str(small_disk)}, "retention": {"min_free_gb": 0, "warn_free_gb": 2 * MB / 2 ** 30},
        "alerts": {"sinks": [{"type": "webhook", "name": "ops", "url": hook.url, "kinds": ["incident"]}]}}, env={})
    try:
        with database(url) as (_, sessions):
            alerts = AlertsService(cfg, bus, sessions, threading.Event())
            now = 1_000.0
            alerts.tick(now)
            fill = small_disk / "clips.bin"
            fill.write_bytes(os.urandom(3 * MB))  # 1 MB of the 4 left
            alerts.tick(now + 1)  # checked every DISK_EVERY_S: not yet
            assert _incidents(sessions) == []
            alerts.tick(now + DISK_EVERY_S)
            assert _incidents(sessions) == [(SITE, "disk", False)]
            fill.unlink()
            alerts.tick(now + 2 * DISK_EVERY_S)
            assert _incidents(sessions) == [(SITE, "disk", True)]
            wait_for(lambda: alerts.tick(now + 2 * DISK_EVERY_S) or len(hook.got) >= 2, what="both messages")
        assert [(m["kind"], m["state"]) for m in hook.got] == [("disk", "opened"), ("disk", "closed")]
        assert "GB free on the snapshot disk" in hook.got[0]["detail"]
    finally:
        hook.stop()


def _incidents(sessions) -> list[tuple[str, str, bool]]:
    with sessions() as s:
        return [(i.camera_id, i.kind, i.ended_at is not None) for i in s.scalars(select(Incident))]
