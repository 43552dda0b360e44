"""The alerts page, /api/alerts, /api/incidents, the cameras page's incident strip and the alert
metrics, from outbox and incident rows in SQLite; no credential of a sink is ever shown."""
from __future__ import annotations

import datetime as dt

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.dashboard import dashboard_config, login, make_users
from support.databases import sqlite_database

from maskwatch.dashboard.app import create_app
from maskwatch.membus import MemoryBus
from maskwatch.storage import outbox

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
SINKS = {"sinks": [
    {"type": "webhook", "name": "ops-hook", "url": "https://hooks.example/abc?token=tok-secret-1"},
    # Slack's, Discord's and Teams' webhooks carry their credential in the path (and a fragment)
    {"type": "webhook", "name": "chat-hook", "url": "https://hooks.slack.example/services/T000/B000/path-secret-1#f"},
    {"type": "mqtt", "name": "site-mqtt", "host": "broker.local", "port": 8883, "tls": True,
     "username": "mw", "password": "mqtt-secret-1"}]}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("alerts")
    app = create_app(dashboard_config(sqlite_database(tmp), tmp / "snaps", alerts=SINKS), bus=MemoryBus("alerts"))
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    sessions = app.extensions["maskwatch"].sessions
    app.users = make_users(sessions)
    with sessions.begin() as s:
        for n in range(3):
            outbox.enqueue(s, "ops-hook", f"violation:{n}", "violation", "cam-a", {"n": n})
        outbox.enqueue(s, "site-mqtt", "violation:0", "violation", "cam-a", {"n": 0})
        outbox.open_incident(s, "i1" * 8, "cam-a", "offline", NOW - dt.timedelta(hours=2), "offline: refused")
        outbox.close_incident(s, "i1" * 8, NOW - dt.timedelta(hours=1))
        outbox.open_incident(s, "i2" * 8, "cam-b", "frozen", NOW - dt.timedelta(minutes=10), "the same picture")
    with sessions.begin() as s:
        ids = [m.id for m in outbox.due(s, NOW.timestamp() + 1)]
        outbox.delivered(s, ids[:2])
        outbox.failed(s, ids[2:3], "HTTP 503", NOW.timestamp() + 60)
    return app


@pytest.fixture
def client(app):
    c = app.test_client()
    login(c, app.users["viewer"])
    return c


def test_the_alerts_page_shows_each_sinks_state_and_no_credential(client):
    html = client.get("/alerts").get_data(as_text=True)
    for text in ("ops-hook", "chat-hook", "site-mqtt", "https://hooks.example", "https://hooks.slack.example",
                 "mqtts://broker.local:8883", "HTTP 503", "failing", "waiting", "offline: refused", "the same picture"):
        assert text in html, text
    api = client.get("/api/alerts").get_data(as_text=True)
    for page in (html, api):  # a webhook shows its host and its sink's name, never its path
        assert "tok-secret-1" not in page and "mqtt-secret-1" not in page and "path-secret-1" not in page
        assert "/services/" not in page and "/abc" not in page
    sinks = {s["name"]: s for s in client.get("/api/alerts").get_json()["sinks"]}
    assert sinks["chat-hook"]["target"] == "https://hooks.slack.example"
    assert (sinks["ops-hook"]["delivered"], sinks["ops-hook"]["failing"], sinks["ops-hook"]["health"]) == \
        (2, 1, "failing")
    assert (sinks["site-mqtt"]["pending"], sinks["site-mqtt"]["health"]) == (1, "waiting")


@pytest.mark.parametrize(("query", "ids"), [("", ["i2" * 8, "i1" * 8]), ("?kind=offline", ["i1" * 8]),
                                            ("?camera=cam-b", ["i2" * 8]), ("?camera=cam-b&kind=offline", [])])
def test_incidents_filter_by_camera_and_kind(client, query, ids):
    assert [i["id"] for i in client.get(f"/api/incidents{query}").get_json()["items"]] == ids
    html = client.get(f"/alerts{query}").get_data(as_text=True)
    assert html.count("data-incident=") == len(ids)


def test_a_bad_incident_kind_is_a_400(client):
    resp = client.get("/api/incidents?kind=melted")
    assert resp.status_code == 400 and "kind: expected one of offline" in resp.get_json()["error"]


def test_the_cameras_page_draws_each_cameras_last_day_of_incidents(client):
    html = client.get("/cameras").get_data(as_text=True)
    assert html.count('class="inc-offline"') == 1 and html.count('class="inc-frozen open"') == 1


def test_alert_metrics(app):
    text = app.test_client().get("/metrics").get_data(as_text=True)
    m = {(s.name, tuple(sorted(s.labels.items()))): s.value
         for fam in text_string_to_metric_families(text) for s in fam.samples}
    assert m[("maskwatch_alerts_failing", (("sink", "ops-hook"),))] == 1
    assert m[("maskwatch_alerts_delivered", (("sink", "ops-hook"),))] == 2
    assert m[("maskwatch_alerts_waiting", (("sink", "site-mqtt"),))] == 1
    assert m[("maskwatch_incidents_open", (("camera", "cam-b"), ("kind", "frozen")))] == 1
    assert ("maskwatch_incidents_open", (("camera", "cam-a"), ("kind", "offline"))) not in m
