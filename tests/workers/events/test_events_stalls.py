"""A stall shows: with the snapshot store failing, events' status says so and its lag is the real,
growing age of the oldest unsettled detection, as the dashboard, /metrics and /healthz read it."""
from __future__ import annotations

import time

from support.databases import sqlite_database
from support.events import CAM, Feed, database, events_config, push, rows, running, wait_for

from maskwatch.dashboard.status import read_status
from maskwatch.storage.db import upgrade


def test_a_failing_snapshot_store_shows_as_a_problem_and_a_growing_lag(bus, tmp_path):
    url = sqlite_database(tmp_path, "events.db")
    snaps = tmp_path / "snaps"
    snaps.write_bytes(b"not a folder")  # every snapshot write fails as on a broken volume
    feed = Feed(t0=time.time() - 5).episode()
    cfg = events_config(bus, url, snaps)
    with database(url) as (_, sessions), running(cfg, bus, sessions, snaps) as svc:
        push(bus, feed.msgs)
        wait_for(lambda: svc.counters()["problem"] == "snapshot store failing", what="the problem reported")
        first = wait_for(lambda: read_status(cfg, bus).events.get("problem") and read_status(cfg, bus), 5)
        time.sleep(2.5)  # status is written once a second: two reads 2.5 s apart are >= 1.5 s of writes apart
        later = read_status(cfg, bus).events
        assert first.events["problem"] == later["problem"] == "snapshot store failing"
        assert first.events["db_ok"]  # the database is fine: the status says which part is not
        assert later["lag_s"] >= first.events["lag_s"] + 1.0  # the backlog ages, it is not frozen
        assert rows(sessions) == []
        snaps.unlink()  # the volume is back
        wait_for(lambda: len(rows(sessions)) == 1, 15, "the violation once snapshots can be written")
        wait_for(lambda: read_status(cfg, bus).events["problem"] == "", 5, "the problem cleared")
        assert read_status(cfg, bus).events["lag_s"] < 2.0
    assert rows(sessions)[0].camera_id == CAM
