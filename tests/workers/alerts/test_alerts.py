"""Alerts: camera-health rules as tables, then delivery through the real outbox to a real webhook
receiver and a real mosquitto broker, across a receiver outage and a killed events process."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import signal
import threading

import pytest
from sqlalchemy import select
from support.events import CAM, Feed, database, push, raw_config, rows, running, start_child, stop_child, wait_for
from support.receivers import MOSQUITTO, Mosquitto, Webhook

from maskwatch.alerts_config import HealthConfig
from maskwatch.config import parse_config
from maskwatch.status import CameraStatusRecord
from maskwatch.storage.db import upgrade
from maskwatch.storage.tables import OutboxMessage
from maskwatch.workers.alerts.health import CLOSE_AFTER_S, CameraHealth
from maskwatch.workers.alerts.writer import AlertWriter

HC = HealthConfig(offline_s=10, frozen_s=30, dark_s=5, slow_s=20)
T = 1_000_000.0


def rec(**kw) -> CameraStatusRecord:
    base = dict(state="online", updated_at=T, fps_read=5.0, fps_cap=5.0, brightness=120.0, contrast=40.0,
                picture_changed_at=T)
    return CameraStatusRecord(**{**base, **kw})


# (seconds after T, the record then, what opens (+) or closes (-) at that moment)
SEQUENCES = {
    "offline for longer than offline_s: one open, one close": [
        (0, rec(), []), (1, rec(state="offline", last_error="refused", updated_at=T + 1), []),
        (10, rec(state="offline", updated_at=T + 10), []), (11, rec(state="offline", updated_at=T + 11), ["+offline"]),
        (30, rec(state="offline", updated_at=T + 30), []),
        (31, rec(updated_at=T + 31, picture_changed_at=T + 31), []),
        (31 + CLOSE_AFTER_S, rec(updated_at=T + 36, picture_changed_at=T + 36), ["-offline"])],
    "a short outage opens nothing": [
        (0, rec(state="offline", updated_at=T), []), (9, rec(updated_at=T + 9, picture_changed_at=T + 9), []),
        (30, rec(updated_at=T + 30, picture_changed_at=T + 30), [])],
    "ingest silent (a stale record) is offline": [
        (0, rec(), []), (5, rec(), []), (25, rec(), []), (36, rec(), ["+offline"])],
    "the same picture for frozen_s": [
        (0, rec(), []), (29, rec(updated_at=T + 29), []), (30, rec(updated_at=T + 30), ["+frozen"]),
        (40, rec(updated_at=T + 40, picture_changed_at=T + 40), []),
        (46, rec(updated_at=T + 46, picture_changed_at=T + 46), ["-frozen"])],
    "black, then white": [
        (0, rec(brightness=3, contrast=1), []), (5, rec(brightness=3, contrast=1, updated_at=T + 5,
                                                        picture_changed_at=T + 5), ["+dark"]),
        (6, rec(brightness=250, contrast=1, updated_at=T + 6, picture_changed_at=T + 6), []),
        (11, rec(brightness=250, contrast=1, updated_at=T + 11, picture_changed_at=T + 11), ["-dark", "+saturated"])],
    "a dark but detailed night scene is not black": [
        (0, rec(brightness=10, contrast=25), []), (60, rec(brightness=10, contrast=25, updated_at=T + 60,
                                                           picture_changed_at=T + 60), [])],
    "slow: below half the camera's fps": [
        (0, rec(fps_read=2.0), []), (20, rec(fps_read=2.0, updated_at=T + 20, picture_changed_at=T + 20), ["+slow"])],
}


@pytest.mark.parametrize("name", SEQUENCES)
def test_health_incidents_open_and_close_once(name):
    health = CameraHealth("gate", HC, stale_s=10)
    for at, record, expected in SEQUENCES[name]:
        got = [("+" if c.opened else "-") + c.kind for c in health.observe(record, T + at)]
        assert sorted(got) == sorted(expected), (name, at)


def test_an_incident_is_dated_from_when_its_condition_began():
    health = CameraHealth("gate", HC, stale_s=10)
    health.observe(rec(state="offline"), T)
    (opened,) = health.observe(rec(state="offline", updated_at=T + 12), T + 12)
    assert opened.started_at == T and "offline" in opened.detail


def _config(bus, url, tmp_path, sinks) -> dict:
    return raw_config(bus, url, tmp_path / "snaps", top={
        "site": "Test Station", "cameras": [{"id": CAM, "name": "Gate one", "url": "rtsp://127.0.0.1/x"}],
        "alerts": {"sinks": sinks, "retry_max_s": 1, "health": {"enabled": False}}})


def _db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    upgrade(url)
    return url


def test_signed_webhook_filters_and_digest(bus, tmp_path):
    """Three violators: the signed sink gets each, the high-confidence sink none (p 0.92 < 0.95),
    the digest sink one message listing all three."""
    hooks = {name: Webhook(secret="s3cret-hmac" if name == "signed" else None).start()
             for name in ("signed", "strict", "digest")}
    sinks = [{"type": "webhook", "name": "signed", "url": hooks["signed"].url, "hmac_secret": "s3cret-hmac"},
             {"type": "webhook", "name": "strict", "url": hooks["strict"].url, "min_confidence": 0.95},
             {"type": "webhook", "name": "digest", "url": hooks["digest"].url, "digest_minutes": 0.05}]
    url = _db(tmp_path)
    cfg = parse_config(_config(bus, url, tmp_path, sinks), env={})
    try:
        with database(url) as (_, sessions), running(cfg, bus, sessions, tmp_path / "snaps"):
            push(bus, Feed().episode().episode().episode().msgs)
            wait_for(lambda: len(rows(sessions)) == 3, what="three violations")
            wait_for(lambda: len(hooks["signed"].got) == 3, what="three signed messages")
            wait_for(lambda: hooks["digest"].got, timeout=15, what="the digest")
            ids = sorted(f"violation:{v.id}" for v in rows(sessions))
        assert sorted(hooks["signed"].ids()) == ids and hooks["signed"].bad_signatures == 0
        assert all(h["X-Maskwatch-Signature"].startswith("sha256=") for h in hooks["signed"].headers)
        assert hooks["strict"].got == []
        (digest,) = hooks["digest"].got
        assert digest["type"] == "digest" and digest["count"] == 3 and digest["camera"] == {"id": CAM,
                                                                                         "name": "Gate one"}
        assert sorted(v["message_id"] for v in digest["violations"]) == ids
    finally:
        for h in hooks.values():
            h.stop()


def _worn_incorrectly(msgs):
    """The same walkers, but the violator's mask sits under the nose (a three-verdict model's share)."""
    return [dataclasses.replace(m, faces=[dataclasses.replace(f, p_incorrect=0.8) if m.is_violation(f) else f
                                          for f in m.faces]) for m in msgs]


def test_a_mask_worn_incorrectly_is_stored_as_such_and_goes_to_the_sinks_that_want_it(bus, tmp_path):
    hooks = {name: Webhook().start() for name in ("all", "no-mask-only")}
    sinks = [{"type": "webhook", "name": "all", "url": hooks["all"].url},
             {"type": "webhook", "name": "no-mask-only", "url": hooks["no-mask-only"].url, "verdicts": ["no_mask"]}]
    url = _db(tmp_path)
    cfg = parse_config(_config(bus, url, tmp_path, sinks), env={})
    feed = Feed().episode()
    n = len(feed.msgs)
    feed.episode()
    msgs = feed.msgs[:n] + _worn_incorrectly(feed.msgs[n:])  # the second person: worn incorrectly
    try:
        with database(url) as (_, sessions), running(cfg, bus, sessions, tmp_path / "snaps"):
            push(bus, msgs)
            wait_for(lambda: len(hooks["all"].got) == 2, what="both violations at the sink that wants all")
            wait_for(lambda: len(hooks["no-mask-only"].got) == 1, what="one at the no_mask sink")
            by_time = sorted(rows(sessions), key=lambda v: v.first_seen)
        assert [v.verdict.value for v in by_time] == ["no_mask", "mask_incorrect"]
        verdicts = {m["id"]: m["verdict"] for m in hooks["all"].got}
        assert verdicts == {by_time[0].id: "no_mask", by_time[1].id: "mask_incorrect"}
        assert [m["id"] for m in hooks["no-mask-only"].got] == [by_time[0].id]
    finally:
        for h in hooks.values():
            h.stop()


def _outbox(sessions) -> list[OutboxMessage]:
    with sessions() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_alerts_survive_a_receiver_outage_and_a_killed_events_process(bus, tmp_path):
    hook = Webhook().start()
    url = _db(tmp_path)
    raw = _config(bus, url, tmp_path, [{"type": "webhook", "name": "site-hook", "url": hook.url}])
    feed = Feed().episode()
    n = len(feed.msgs)
    feed.episode().episode()  # two more people (each episode's are new faces)
    first, more = feed.msgs[:n], feed.msgs[n:]
    child = start_child(raw, tmp_path / "events.log")
    try:
        with database(url) as (_, sessions):
            push(bus, first)
            wait_for(lambda: len(hook.got) == 1, timeout=20, what="the first alert")
            hook.stop()  # the receiver goes away
            push(bus, more)
            wait_for(lambda: len(rows(sessions)) == 3, timeout=20, what="three violations")
            wait_for(lambda: all(m.attempts > 0 for m in _outbox(sessions) if m.delivered_at is None)
                     and len([m for m in _outbox(sessions) if m.delivered_at is None]) == 2,
                     timeout=20, what="two alerts failing")
            stop_child(child, signal.SIGKILL)  # and events dies with them undelivered
            child = start_child(raw, tmp_path / "events.log")
            hook.start()  # the receiver is back, on its address
            wait_for(lambda: len(hook.got) == 3, timeout=30, what="every alert once the receiver is back")
            wait_for(lambda: all(m.delivered_at is not None for m in _outbox(sessions)), what="the outbox done")
            expected = sorted(f"violation:{v.id}" for v in rows(sessions))
        assert sorted(hook.ids()) == expected  # none lost, none twice
    finally:
        stop_child(child)
        hook.stop()


@pytest.mark.skipif(not __import__("os").path.exists(MOSQUITTO), reason="mosquitto is missing: .ci/system-deps.sh")
def test_mqtt_through_mosquitto_with_credentials_from_the_environment(bus, tmp_path):
    import paho.mqtt.client as mqtt

    broker = Mosquitto(tmp_path).start()
    got: list[tuple[str, bytes, bool]] = []
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-subscriber")
    client.username_pw_set(broker.user, broker.password)
    client.on_connect = lambda c, *a: c.subscribe("maskwatch/#", qos=1)
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_message = lambda c, u, m: got.append((m.topic, m.payload, m.retain))
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    url = _db(tmp_path)
    sinks = [{"type": "mqtt", "name": "site-mqtt", "host": "127.0.0.1", "port": broker.port,
              "username": "${MQTT_USER}", "password": "${MQTT_PASSWORD}"}]
    cfg = parse_config(_config(bus, url, tmp_path, sinks), env={"MQTT_USER": broker.user,
                                                                "MQTT_PASSWORD": broker.password})
    try:
        assert subscribed.wait(10)
        with database(url) as (_, sessions), running(cfg, bus, sessions, tmp_path / "snaps"):
            push(bus, Feed().episode().msgs)
            wait_for(lambda: got, timeout=20, what="the MQTT message")
            (v,) = rows(sessions)
            # the camera goes offline: its incident, and its availability, retained for later clients
            with sessions.begin() as s:
                AlertWriter(cfg).incident(s, incident_id="ab" * 16, camera=CAM, kind="offline", state="opened",
                                          started_at=dt.datetime.now(dt.UTC), ended_at=None, detail="refused")
            wait_for(lambda: len(got) >= 3, timeout=20, what="the incident and the availability")
        topic, payload, _ = got[0]
        assert topic == f"maskwatch/test-station/{CAM}/violation"
        body = json.loads(payload)
        assert body["message_id"] == f"violation:{v.id}" and body["site"] == "Test Station"
        assert [(t, json.loads(p)["state"]) for t, p, _ in got[1:2]] == [(f"maskwatch/test-station/{CAM}/incident",
                                                                         "opened")]
        assert got[2][:2] == (f"maskwatch/test-station/{CAM}/availability", b"offline")
        late: list[tuple[str, bytes, bool]] = []
        other = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="late-subscriber")
        other.username_pw_set(broker.user, broker.password)
        other.on_connect = lambda c, *a: c.subscribe(f"maskwatch/+/{CAM}/availability", qos=1)
        other.on_message = lambda c, u, m: late.append((m.topic, m.payload, m.retain))
        other.connect("127.0.0.1", broker.port)
        other.loop_start()
        try:
            wait_for(lambda: late, timeout=10, what="the retained availability")
        finally:
            other.loop_stop()
            other.disconnect()
        assert late[0][1:] == (b"offline", True)
    finally:
        client.loop_stop()
        client.disconnect()
        broker.stop()


@pytest.mark.skipif(not __import__("os").path.exists(MOSQUITTO), reason="mosquitto is missing: .ci/system-deps.sh")
def test_mqtt_over_tls_checks_the_brokers_certificate(bus, tmp_path):
    from maskwatch.dashboard.tls import make_self_signed

    cert, key = tmp_path / "broker.pem", tmp_path / "broker.key"
    make_self_signed(cert, key, ["localhost"], "test")
    broker = Mosquitto(tmp_path, tls=(cert, key)).start()
    url = _db(tmp_path)
    base = {"type": "mqtt", "host": "localhost", "port": broker.port, "tls": True, "username": broker.user,
            "password": broker.password}
    sinks = [{**base, "name": "trusted", "ca_file": str(cert)}, {**base, "name": "untrusted"}]
    cfg = parse_config(_config(bus, url, tmp_path, sinks), env={})
    try:
        with database(url) as (_, sessions), running(cfg, bus, sessions, tmp_path / "snaps"):
            push(bus, Feed().episode().msgs)
            wait_for(lambda: {m.sink: m for m in _outbox(sessions)}.get("trusted") is not None
                     and {m.sink: m for m in _outbox(sessions)}["trusted"].delivered_at is not None,
                     timeout=20, what="the message over TLS")
            wait_for(lambda: {m.sink: m for m in _outbox(sessions)}["untrusted"].attempts > 0, timeout=30,
                     what="the untrusted broker refused")
            untrusted = {m.sink: m for m in _outbox(sessions)}["untrusted"]
        assert untrusted.delivered_at is None and untrusted.last_error
    finally:
        broker.stop()
