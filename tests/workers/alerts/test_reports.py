"""Scheduled compliance reports through a real SMTP server (aiosmtpd on loopback): the period a
report is due for, its CSV and PDF, once per period across restarts, and an outage that delays a
report without losing it."""
from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from support.receivers import Smtp
from support.settings import REDIS_URL

from maskwatch.config import ConfigError, parse_config
from maskwatch.reports_config import ReportConfig
from maskwatch.storage.db import make_engine, session_factory, upgrade
from maskwatch.storage.tables import CameraHour, ReportRun
from maskwatch.workers.alerts.reports import due_period, run_due

PARIS = ZoneInfo("Europe/Paris")


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


@pytest.mark.parametrize("every, at, now, start, end", [
    ("day", "07:00", local(2026, 12, 8, 8, 0), local(2026, 12, 7), local(2026, 12, 8)),   # yesterday
    ("day", "07:00", local(2026, 12, 8, 6, 59), local(2026, 12, 6), local(2026, 12, 7)),  # not yet: the day before
    ("week", "07:00", local(2026, 12, 7, 7, 0), local(2026, 11, 30), local(2026, 12, 7)),  # Monday 07:00: last week
    ("week", "07:00", local(2026, 12, 9, 12, 0), local(2026, 11, 30), local(2026, 12, 7)),
    ("week", "07:00", local(2026, 12, 7, 6, 0), local(2026, 11, 23), local(2026, 11, 30)),
    ("day", "00:30", local(2026, 3, 29, 1, 0), local(2026, 3, 28), local(2026, 3, 29)),   # the spring-forward night
])
def test_the_period_due(every, at, now, start, end):
    p = due_period(ReportConfig(name="r", every=every, at=at, to=["a@b.example"]), now.astimezone(dt.UTC), PARIS)
    assert (p.start, p.end) == (start, end)


@pytest.fixture
def smtp():
    server = Smtp().start()
    yield server
    server.stop()


def site(smtp_port: int, url: str) -> dict:
    return {"site": "Depot", "timezone": "Europe/Paris", "database": {"url": url},
            "cameras": [{"id": "gate", "name": "North gate", "url": "rtsp://127.0.0.1/x"},
                        {"id": "hall", "name": "Hall", "url": "rtsp://127.0.0.1/y"}],
            "reports": {"smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none",
                                 "sender": "maskwatch@depot.example"},
                        "schedule": [{"name": "daily", "every": "day", "at": "07:00",
                                      "to": ["safety@depot.example", "ops@depot.example"]}]}}


def test_a_report_goes_once_with_its_numbers_and_an_outage_only_delays_it(smtp, tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    upgrade(url)
    cfg = parse_config(site(smtp.port, url), env={})
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions() as s:  # yesterday, Paris: the gate watched 6 of 24 hours, the hall not at all
        s.add(CameraHour(camera_id="gate", hour=local(2026, 12, 7, 10).astimezone(dt.UTC), people=50, violations=5,
                         sightings=300, not_judged=3, watched_s=6 * 3600))
        s.commit()
    now = local(2026, 12, 8, 7, 5).astimezone(dt.UTC)
    try:
        smtp.stop()  # the server is down: nothing is lost, nothing recorded
        assert run_due(sessions, cfg, now) == 0
        with sessions() as s:
            assert s.query(ReportRun).count() == 0
        smtp.start()
        assert run_due(sessions, cfg, now) == 1
        assert run_due(sessions, cfg, now + dt.timedelta(minutes=1)) == 0  # once per period
        (msg,) = smtp.messages
        assert msg["Subject"] == "Depot: mask compliance, 2026-12-07" and "ops@depot.example" in msg["To"]
        files = {part.get_filename(): part.get_content() for part in msg.iter_attachments()}
        assert set(files) == {"maskwatch-daily-2026-12-07.csv", "maskwatch-daily-2026-12-07.pdf"}
        table = list(csv.reader(io.StringIO(files["maskwatch-daily-2026-12-07.csv"])))
        assert table[1] == ["gate", "North gate", "50", "5", "90.0%", "3", "25%"]
        assert table[2] == ["hall", "Hall", "0", "0", "-", "0", "not recorded"]
        assert files["maskwatch-daily-2026-12-07.pdf"][:5] == b"%PDF-"
        assert "North gate: 90.0% of 50 people judged, 5 violations, watched 25%" in msg.get_body().get_content()
    finally:
        engine.dispose()


@pytest.mark.parametrize("reports, error", [
    ({"schedule": [{"name": "w", "to": ["a@b.example"]}]}, r"reports \['w'\] are e-mailed: reports.smtp must say"),
    ({"schedule": [{"name": "w"}]}, r"reports \['w'\] go nowhere"),
    ({"smtp": {"host": "h", "sender": "x@y.example"}, "schedule": [{"name": "w", "to": ["not an address"]}]},
     "not e-mail addresses"),
    ({"smtp": {"host": "h", "sender": "x@y.example"}, "schedule": [{"name": "w", "to": ["a@b.example"],
                                                                     "at": "25:00"}]}, "at"),
    ({"smtp": {"host": "h", "sender": "x@y.example"}, "schedule": [{"name": "w", "to": ["a@b.example"],
                                                                     "cameras": ["nope"]}]}, "unknown cameras"),
])
def test_a_bad_schedule_is_refused(reports, error):
    raw = {"cameras": [{"id": "gate", "url": "rtsp://127.0.0.1/x"}], "reports": reports}
    with pytest.raises(ConfigError, match=error):
        parse_config(raw, env={})


def test_a_report_goes_to_the_webhook_that_takes_reports(tmp_path, redis_bus):
    """No e-mail: the report's table and files through the outbox to a real webhook receiver, once."""
    import base64
    import threading

    from support.receivers import Webhook

    from maskwatch.workers.alerts.service import AlertsService

    hook = Webhook().start()
    url = f"sqlite:///{tmp_path / 'h.db'}"
    upgrade(url)
    raw = site(1, url)
    raw["reports"] = {"schedule": [{"name": "weekly", "every": "week", "at": "07:00"}]}
    raw["alerts"] = {"sinks": [{"type": "webhook", "name": "bi", "url": hook.url, "kinds": ["report"]}]}
    raw["redis"] = {"url": REDIS_URL, "prefix": redis_bus.keys.prefix}
    cfg = parse_config(raw, env={})
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions() as s:
        s.add(CameraHour(camera_id="hall", hour=local(2026, 12, 2, 9).astimezone(dt.UTC), people=20, violations=1,
                         sightings=90, watched_s=3600))
        s.commit()
    try:
        alerts = AlertsService(cfg, redis_bus, sessions, threading.Event())
        monday = local(2026, 12, 7, 7, 5).timestamp()
        for minute in range(3):
            alerts.tick(monday + 60 * minute)
        deadline = dt.datetime.now() + dt.timedelta(seconds=10)
        while not hook.got and dt.datetime.now() < deadline:
            alerts.tick(monday + 240)
        (m,) = hook.got
        assert m["type"] == "report" and m["period"] == "2026-11-30 to 2026-12-06" and m["name"] == "weekly"
        assert m["cameras"][1] == {"camera_id": "hall", "camera_name": "Hall", "people": 20, "violations": 1,
                                   "compliance": "95.0%", "not_judged": 0, "watched": "1%"}
        assert base64.b64decode(m["pdf_base64"])[:5] == b"%PDF-" and m["csv"].startswith("camera,name,")
        with sessions() as s:
            (run,) = s.query(ReportRun).all()
        assert run.recipients == 1
    finally:
        hook.stop()
        engine.dispose()
