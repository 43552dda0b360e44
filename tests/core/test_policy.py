"""Mask policies: zones and schedules as tables, then the events service against real Redis and
SQLite: a face outside a required zone or time is tracked, counted nowhere as compliance, and never
a violation."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from support.databases import sqlite_database
from support.events import CAM, Feed, database, events_config, push, rows, running, wait_for

from maskwatch.config import ConfigError, parse_config
from maskwatch.policy import CameraPolicy, Window, Zone, required
from maskwatch.storage.db import upgrade
from maskwatch.storage.tables import CameraHour

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS = Window(**{"from": "07:00", "to": "19:00"})
NIGHTS = Window(**{"days": ["fri", "sat"], "from": "22:00", "to": "06:00"})


@pytest.mark.parametrize(("window", "local", "inside"), [
    (WEEKDAYS, dt.datetime(2025, 3, 10, 7, 0), True),      # Monday 07:00: from is inclusive
    (WEEKDAYS, dt.datetime(2025, 3, 10, 18, 59), True),
    (WEEKDAYS, dt.datetime(2025, 3, 10, 19, 0), False),    # to is exclusive
    (WEEKDAYS, dt.datetime(2025, 3, 15, 12, 0), False),    # Saturday
    (NIGHTS, dt.datetime(2025, 3, 14, 23, 0), True),       # Friday night
    (NIGHTS, dt.datetime(2025, 3, 15, 5, 59), True),       # ... still Friday's night on Saturday morning
    (NIGHTS, dt.datetime(2025, 3, 14, 5, 0), False),       # Friday morning belongs to Thursday's night
    (NIGHTS, dt.datetime(2025, 3, 16, 3, 0), True),        # Saturday's night
    (NIGHTS, dt.datetime(2025, 3, 16, 23, 0), False),      # Sunday night
])
def test_schedule_windows(window, local, inside):
    assert window.contains(local) is inside


DOOR = Zone(name="door", polygon=[(0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (0.0, 1.0)])
TRIANGLE = Zone(name="tri", polygon=[(0.5, 0.0), (1.0, 1.0), (0.0, 1.0)])


@pytest.mark.parametrize(("zone", "x", "y", "inside"), [
    (DOOR, 0.25, 0.75, True), (DOOR, 0.75, 0.75, False), (DOOR, 0.25, 0.25, False),
    (TRIANGLE, 0.5, 0.5, True), (TRIANGLE, 0.1, 0.2, False), (TRIANGLE, 0.9, 0.9, True),
])
def test_zones(zone, x, y, inside):
    assert zone.contains(x, y) is inside


def test_required_combines_zone_and_schedule_in_the_sites_zone():
    pol = CameraPolicy(zones=[DOOR], schedule="weekdays")
    monday_8_paris = dt.datetime(2025, 3, 10, 8, 0, tzinfo=PARIS).timestamp()   # 07:00 UTC
    in_door = (20, 300, 60, 340)   # centre (40, 320) of 200x400: x 0.2, y 0.8
    args = ({"weekdays": [WEEKDAYS]}, PARIS)
    assert required(pol, *args, in_door, 200, 400, monday_8_paris)
    assert not required(pol, *args, (120, 300, 160, 340), 200, 400, monday_8_paris)   # outside the door
    assert not required(pol, *args, in_door, 200, 400, monday_8_paris - 2 * 3600)      # 06:00 in Paris
    assert required(None, *args, in_door, 200, 400, 0.0)                               # no policy: always


@pytest.mark.parametrize(("raw", "message"), [
    ({"cameras": [{"id": "a", "url": "rtsp://h/a", "policy": {"schedule": "nights"}}]},
     "camera 'a': policy.schedule 'nights' is not in schedules (none defined)"),
    ({"schedules": {"w": [{"from": "25:00", "to": "19:00"}]}}, "schedules.w[0].from: Value error, '25:00' is not"),
    ({"schedules": {"w": [{"days": ["monday"], "from": "07:00", "to": "19:00"}]}},
     "schedules.w[0].days: Value error, days are some of mon, tue"),
    ({"cameras": [{"id": "a", "url": "rtsp://h/a", "policy": {"zones": [{"name": "z", "polygon": [[0, 0], [1, 1]]}]}}]},
     "cameras[0].policy.zones[0].polygon (camera 'a'): Value error, a zone is at least 3 points"),
])
def test_check_config_names_bad_policies(raw, message):
    with pytest.raises(ConfigError) as e:
        parse_config(raw, "site.yaml", env={})
    assert message in str(e.value)


def _config(bus, url, tmp_path, policy, schedules=None):
    return events_config(bus, url, tmp_path / "snaps", top={
        "schedules": schedules or {}, "cameras": [{"id": CAM, "url": "rtsp://127.0.0.1/x", "policy": policy}]})


def _run(bus, tmp_path, policy, schedules=None):
    """The Feed's one unmasked walker (top of the picture) and one masked walker (bottom):
    (violations, people counted for compliance)."""
    url = sqlite_database(tmp_path, "events.db")
    cfg = _config(bus, url, tmp_path, policy, schedules)
    with database(url) as (_, sessions), running(cfg, bus, sessions, tmp_path / "snaps") as svc:
        msgs = Feed().episode().msgs
        push(bus, msgs)
        wait_for(lambda: svc.counters()["processed"] == len(msgs), what="every entry processed")
        wait_for(lambda: bus.pending_count(bus.keys.detections(), "events") == 0, what="every entry settled")
        with sessions() as s:
            people = sum(h.people for h in s.scalars(select(CameraHour)))
        return len(rows(sessions)), people


def _hours_from_now(h: int) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=h)).strftime("%H:00")


@pytest.mark.parametrize(("policy", "schedules", "violations", "people"), [
    (None, None, 1, 2),
    # the zone is the bottom half: the unmasked walker at the top is outside, the masked one inside
    ({"zones": [{"name": "queue", "polygon": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]}]}, None, 0, 1),
    ({"zones": [{"name": "top", "polygon": [[0, 0], [1, 0], [1, 0.5], [0, 0.5]]}]}, None, 1, 1),
    ({"schedule": "now"}, "now", 1, 2),
    ({"schedule": "later"}, "later", 0, 0),
], ids=["no policy", "violator outside the zone", "violator inside the zone", "in the schedule",
        "outside the schedule"])
def test_a_zone_or_a_schedule_suppresses_a_violation(bus, tmp_path, policy, schedules, violations, people):
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    windows = {"now": [{"days": days, "from": _hours_from_now(-2), "to": _hours_from_now(2)}],
               "later": [{"days": days, "from": _hours_from_now(3), "to": _hours_from_now(5)}]}
    # near midnight these windows run past it: Window handles that (the table above)
    assert _run(bus, tmp_path, policy, windows if schedules else None) == (violations, people)
