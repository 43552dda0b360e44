"""Where alerts go: a webhook (optionally HMAC-signed) or an MQTT broker (paho-mqtt, QoS 1).

A sender's send() returns once the receiver has the message (HTTP 2xx, or the broker's PUBACK)
and raises SinkError otherwise; retrying is the deliverer's job. Errors never carry the URL or
credentials (a webhook URL may hold a token).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import ssl
import threading
import urllib.error
import urllib.request

from maskwatch.alerts_config import MqttSink, WebhookSink
from maskwatch.errors import MaskwatchError
from maskwatch.redact import origin
from maskwatch.wire.alert import SCHEMA
from maskwatch.wire.alert_formats import FormatError, body_of, render

log = logging.getLogger(__name__)


class SinkError(MaskwatchError):
    """A message the receiver did not take; the text is safe to store and show."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a failed delivery, never followed: following one would forward the message id
    and its signature to another host, and a body that reached no one would count as delivered."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx


_OPENER = urllib.request.build_opener(_NoRedirects)


def signature(secret: str, body: bytes) -> str:
    """The X-Maskwatch-Signature header a receiver recomputes: HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender:
    def __init__(self, cfg: WebhookSink):
        self.cfg = cfg

    def send(self, payload: dict) -> None:
        try:
            body = render(self.cfg.format, payload, self.cfg.template)
        except FormatError as e:
            raise SinkError(str(e)) from None
        headers = {"Content-Type": self.cfg.content_type, "User-Agent": "maskwatch", "X-Maskwatch-Schema": SCHEMA,
                   "X-Maskwatch-Id": payload["message_id"], "X-Maskwatch-Format": self.cfg.format}
        if self.cfg.hmac_secret:
            headers["X-Maskwatch-Signature"] = signature(self.cfg.hmac_secret, body)
        req = urllib.request.Request(self.cfg.url, data=body, method="POST", headers=headers)
        try:
            with _OPENER.open(req, timeout=self.cfg.timeout_s) as resp:
                resp.read(1024)
        except urllib.error.HTTPError as e:
            if 300 <= e.code < 400:
                raise SinkError(f"HTTP {e.code}: a redirect to {origin(e.headers.get('Location') or '')}, "
                                "not followed") from None
            raise SinkError(f"HTTP {e.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            raise SinkError(f"{type(e).__name__}: {type(reason).__name__ if not isinstance(reason, str) else reason}"
                            ) from None

    def close(self) -> None:
        pass


def slug(text: str) -> str:
    """A topic level from a site's name: lowercase letters, digits and -."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "site"


class MqttSender:
    """One connection to the broker, kept open by paho's network thread and reconnected by it."""

    def __init__(self, cfg: MqttSink, site: str, crop=None):
        """`crop(violation_id)`: the violation's face crop (JPEG bytes) for Home Assistant's image
        entity, with ha_discovery; None: no image."""
        import paho.mqtt.client as mqtt

        self.cfg, self.site, self.crop = cfg, slug(site), crop
        self._connected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"maskwatch-{self.site}-{cfg.name}",
                                  protocol=mqtt.MQTTv311)
        if cfg.username:
            self.client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls:
            self.client.tls_set(ca_certs=cfg.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = lambda c, u, f, rc, p=None: self._connected.set() if not rc.is_failure else None
        self.client.on_disconnect = lambda *a: self._connected.clear()
        self._started = False

    def topic(self, camera: str, leaf: str) -> str:
        return f"{self.cfg.topic_prefix}/{self.site}/{camera}/{leaf}"

    def _connect(self) -> None:
        if not self._started:
            try:
                self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=30)
            except (OSError, ValueError) as e:
                raise SinkError(f"broker unreachable: {type(e).__name__}") from None
            self.client.loop_start()
            self._started = True
        if not self._connected.wait(self.cfg.timeout_s):
            raise SinkError("broker unreachable (not connected)")

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self._connect()
        info = self.client.publish(topic, payload, qos=self.cfg.qos, retain=retain)
        try:
            info.wait_for_publish(self.cfg.timeout_s)
        except (RuntimeError, ValueError) as e:
            raise SinkError(f"not published: {e}") from None
        if not info.is_published():
            raise SinkError("the broker did not acknowledge the message in time")

    def send(self, payload: dict) -> None:
        camera = payload["camera"]["id"]
        self.publish(self.topic(camera, payload["type"]), body_of(payload))
        if payload["type"] == "violation" and self.cfg.ha_discovery and self.crop is not None:
            image = self.crop(payload["id"])
            if image:  # retained: Home Assistant shows the last one
                self.publish(self.topic(camera, "last_violation.jpg"), image, retain=True)
        if payload["type"] == "incident" and payload["kind"] == "offline":
            # retained: a client that connects later (Home Assistant) learns the camera's state
            state = "offline" if payload["state"] == "opened" else "online"
            self.publish(self.topic(camera, "availability"), state.encode(), retain=True)

    def close(self) -> None:
        if self._started:
            self.client.loop_stop()
            self.client.disconnect()


def sender_for(cfg: WebhookSink | MqttSink, site: str, crop=None):
    return WebhookSender(cfg) if isinstance(cfg, WebhookSink) else MqttSender(cfg, site, crop)
