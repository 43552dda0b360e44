"""Home Assistant MQTT discovery: each camera becomes a device with entities, without any YAML.

Per camera, retained under `<discovery_prefix>/<component>/maskwatch_<site>_<camera>/<object>/config`
(Home Assistant's documented payloads):
- binary_sensor `violation` ("Mask violation"): on with each violation message on the camera's
  violation topic (a `value_template` of ON), off again after `OFF_DELAY_S` (HA's `off_delay`);
- sensor `compliance` ("Compliance today", %): the share of people judged today (the site's day)
  without a violation, published retained on `.../<camera>/compliance` every `COMPLIANCE_EVERY_S`;
- image `last_violation` ("Last violation"): the face crop of the camera's last violation, published
  retained as JPEG bytes on `.../<camera>/last_violation.jpg` with each violation message (faces
  go to the broker: opt in per sink, and keep the broker on the site network with its credentials);
- all with the camera's availability topic (online / offline, retained: the offline incidents
  keep it, and it is set online when a camera is announced without an open offline incident).
A camera taken out of the config has its configs replaced by empty retained messages (Home
Assistant removes the entities): the announcer reads back the retained configs of this site from
the broker and clears the ones it did not announce.
"""
from __future__ import annotations

import json
import threading
import time

from sqlalchemy import select

from maskwatch.workers.alerts.sinks import MqttSender

OFF_DELAY_S = 60
COMPLIANCE_EVERY_S = 300
READ_BACK_S = 1.0  # retained messages arrive right after a subscription; this long is plenty on a LAN


def _device(node: str, label: str, site: str) -> dict:
    return {"identifiers": [node], "name": label, "manufacturer": "maskwatch", "model": "camera",
            "suggested_area": site}


def _site_node(sender: MqttSender) -> str:
    """The start of every node id of this site's cameras (their discovery topics' node level)."""
    return f"maskwatch_{sender.site.replace('-', '_')}_"


def configs(sender: MqttSender, cameras: list[tuple[str, str]], prefix: str) -> dict[str, dict]:
    """topic -> discovery payload, for every camera and entity."""
    out = {}
    for cam, label in cameras:
        node = _site_node(sender) + cam.replace("-", "_")
        avail = {"availability_topic": sender.topic(cam, "availability"), "payload_available": "online",
                 "payload_not_available": "offline"}
        device = _device(node, label, sender.site)
        out[f"{prefix}/binary_sensor/{node}/violation/config"] = {
            "name": "Mask violation", "unique_id": f"{node}_violation", "object_id": f"{node}_violation",
            "state_topic": sender.topic(cam, "violation"), "value_template": "ON", "payload_on": "ON",
            "off_delay": OFF_DELAY_S, "device_class": "problem", "device": device, **avail}
        out[f"{prefix}/image/{node}/last_violation/config"] = {
            "name": "Last violation", "unique_id": f"{node}_last_violation", "object_id": f"{node}_last_violation",
            "image_topic": sender.topic(cam, "last_violation.jpg"), "content_type": "image/jpeg", "device": device,
            **avail}
        out[f"{prefix}/sensor/{node}/compliance/config"] = {
            "name": "Compliance today", "unique_id": f"{node}_compliance", "object_id": f"{node}_compliance",
            "state_topic": sender.topic(cam, "compliance"), "unit_of_measurement": "%",
            "state_class": "measurement", "icon": "mdi:face-mask", "device": device, **avail}
    return out


def retained_configs(sender: MqttSender, prefix: str) -> set[str]:
    """The discovery config topics of this site the broker holds now (non-empty ones)."""
    found: set[str] = set()
    lock = threading.Lock()
    pattern = f"{prefix}/+/+/+/config"  # a wildcard fills a whole level: the node is checked below
    ours = _site_node(sender)

    def on_message(client, userdata, msg):
        if msg.retain and msg.payload and msg.topic.split("/")[-3].startswith(ours):
            with lock:
                found.add(msg.topic)

    sender._connect()
    previous = sender.client.on_message
    sender.client.on_message = on_message
    try:
        sender.client.subscribe(pattern, qos=1)
        time.sleep(READ_BACK_S)
        sender.client.unsubscribe(pattern)
    finally:
        sender.client.on_message = previous
    return found


def announce(sender: MqttSender, cameras: list[tuple[str, str]], prefix: str, offline: set[str]) -> dict:
    """Publish every camera's entities (retained), mark the cameras without an open offline
    incident online, and clear the configs of cameras no longer configured: what was done."""
    wanted = configs(sender, cameras, prefix)
    stale = retained_configs(sender, prefix) - set(wanted)
    for topic, payload in wanted.items():
        sender.publish(topic, json.dumps(payload, separators=(",", ":")).encode(), retain=True)
    for cam, _ in cameras:
        if cam not in offline:
            sender.publish(sender.topic(cam, "availability"), b"online", retain=True)
    for topic in sorted(stale):
        sender.publish(topic, b"", retain=True)  # Home Assistant removes the entity
    return {"announced": len(wanted), "removed": len(stale)}


def crop_of(sessions, snapshots, violation_id: str) -> bytes | None:
    """A violation's face crop, from its snapshot file (None when the row or the file is gone)."""
    from maskwatch.storage.tables import Violation

    with sessions() as s:
        rel = s.scalar(select(Violation.crop_path).where(Violation.id == violation_id))
    if not rel:
        return None
    try:
        return snapshots.resolve(rel).read_bytes()
    except (ValueError, OSError):
        return None


def publish_compliance(sender: MqttSender, rates: dict[str, float | None]) -> None:
    for cam, rate in rates.items():
        if rate is not None:
            sender.publish(sender.topic(cam, "compliance"), f"{100 * rate:.1f}".encode(), retain=True)

