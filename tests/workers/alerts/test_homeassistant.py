"""Home Assistant MQTT discovery against a real mosquitto, read the way Home Assistant reads it: a
client subscribed to the discovery prefix gets each camera's retained entity configs; a camera
removed from the config loses its entities; today's compliance and the availability are retained;
the violation topic the binary sensor listens to is the one violations are published on."""
from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
from support.receivers import MOSQUITTO, Mosquitto

from maskwatch.alerts_config import MqttSink
from maskwatch.config import parse_config
from maskwatch.storage.db import make_engine, session_factory, upgrade
from maskwatch.storage.tables import CameraHour
from maskwatch.workers.alerts import homeassistant
from maskwatch.workers.alerts.service import AlertsService
from maskwatch.workers.alerts.sinks import MqttSender

pytestmark = pytest.mark.skipif(not MOSQUITTO or not __import__("os").path.exists(MOSQUITTO),
                                reason="mosquitto is not installed (.ci/system-deps.sh)")
CAMERAS = [("gate", "North gate"), ("hall", "Main hall")]


@pytest.fixture
def broker(tmp_path):
    b = Mosquitto(tmp_path).start()
    yield b
    b.stop()


def retained(broker, pattern: str, wait_s: float = 1.0) -> dict[str, bytes]:
    """What a client that connects now is given under `pattern`, as Home Assistant would be."""
    import paho.mqtt.client as mqtt

    got: dict[str, bytes] = {}
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"ha-{time.monotonic_ns()}")
    client.username_pw_set(broker.user, broker.password)
    client.on_connect = lambda c, *a: c.subscribe(pattern, qos=1)
    client.on_message = lambda c, u, m: got.__setitem__(m.topic, m.payload) if m.retain else None
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    time.sleep(wait_s)
    client.loop_stop()
    client.disconnect()
    return {t: p for t, p in got.items() if p}


def sink(broker, **kw) -> MqttSink:
    return MqttSink(name="ha", type="mqtt", host="127.0.0.1", port=broker.port, username=broker.user,
                    password=broker.password, ha_discovery=True, **kw)


def test_each_camera_becomes_a_device_and_a_removed_one_goes(broker):
    sender = MqttSender(sink(broker), "Test Station")
    try:
        assert homeassistant.announce(sender, CAMERAS, "homeassistant", offline={"hall"}) == \
            {"announced": 6, "removed": 0}
        configs = {t: json.loads(p) for t, p in retained(broker, "homeassistant/#").items()}
        assert set(configs) == {f"homeassistant/{kind}/maskwatch_test_station_{cam}/{obj}/config"
                                for cam, _ in CAMERAS for kind, obj in (("binary_sensor", "violation"),
                                                                        ("sensor", "compliance"),
                                                                        ("image", "last_violation"))}
        gate = configs["homeassistant/binary_sensor/maskwatch_test_station_gate/violation/config"]
        # what Home Assistant needs of a binary sensor: a unique id, a state topic and its payloads, a device
        assert gate["unique_id"] == "maskwatch_test_station_gate_violation" and gate["value_template"] == "ON"
        assert gate["state_topic"] == sender.topic("gate", "violation") == "maskwatch/test-station/gate/violation"
        assert gate["off_delay"] == homeassistant.OFF_DELAY_S and gate["device"]["name"] == "North gate"
        assert gate["availability_topic"] == "maskwatch/test-station/gate/availability"
        hall = configs["homeassistant/sensor/maskwatch_test_station_hall/compliance/config"]
        assert hall["unit_of_measurement"] == "%" and hall["state_topic"] == "maskwatch/test-station/hall/compliance"
        # availability: online unless an offline incident is open
        avail = retained(broker, "maskwatch/test-station/+/availability")
        assert avail == {"maskwatch/test-station/gate/availability": b"online"}
        # the hall camera is taken out of the config: its entities go
        assert homeassistant.announce(sender, CAMERAS[:1], "homeassistant", offline=set()) == \
            {"announced": 3, "removed": 3}
        left = retained(broker, "homeassistant/#")
        assert left and all("_gate/" in t for t in left)
    finally:
        sender.close()


def test_the_alerts_loop_announces_and_publishes_todays_compliance(broker, tmp_path, bus):
    url = f"sqlite:///{tmp_path / 'ha.db'}"
    upgrade(url)
    cfg = parse_config({"site": "Test Station", "cameras": [{"id": c, "name": n, "url": "rtsp://127.0.0.1/x"}
                                                            for c, n in CAMERAS],
                        "alerts": {"sinks": [{"name": "ha", "type": "mqtt", "host": "127.0.0.1", "port": broker.port,
                                              "username": broker.user, "password": broker.password,
                                              "ha_discovery": True, "discovery_prefix": "ha-test"}],
                                   "health": {"enabled": False}}}, env={})
    engine = make_engine(url)
    sessions = session_factory(engine)
    now = time.time()
    hour = dt.datetime.fromtimestamp(now, dt.UTC).replace(minute=0, second=0, microsecond=0)
    with sessions() as s:
        s.add(CameraHour(camera_id="gate", hour=hour, people=40, violations=2, sightings=100))
        s.commit()
    service = AlertsService(cfg, bus, sessions, threading.Event())
    try:
        service.tick(now)
        assert len(retained(broker, "ha-test/#")) == 6
        compliance = retained(broker, "maskwatch/test-station/+/compliance")
        assert compliance == {"maskwatch/test-station/gate/compliance": b"95.0"}  # hall: nobody today, no value
    finally:
        service.deliverer.close()
        engine.dispose()


def test_a_violation_shows_as_the_last_violation_image(broker):
    from maskwatch.wire import alert

    crop = b"\xff\xd8\xff\xe0 a face crop"
    sender = MqttSender(sink(broker), "Test Station", crop=lambda vid: crop if vid == "v1" else None)
    try:
        (image_cfg,) = [c for t, c in homeassistant.configs(sender, CAMERAS[:1], "homeassistant").items()
                        if "/image/" in t]
        sender.send(alert.violation(site="Test Station", violation_id="v1", camera_id="gate", camera_name="North gate",
                                    first_seen=dt.datetime(2026, 12, 6, tzinfo=dt.UTC), p_no_mask=0.9,
                                    face_score=0.9, box=[0, 0, 40, 48], frame_size=(640, 360), model_version="m"))
        assert retained(broker, image_cfg["image_topic"]) == {image_cfg["image_topic"]: crop}
        assert image_cfg["content_type"] == "image/jpeg"
    finally:
        sender.close()
