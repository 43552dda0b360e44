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
    ({"schedule": [{"name": "w", "to": ["a@b.example"]}]}, "needs reports.smtp"),
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
