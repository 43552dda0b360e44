"""The `alerts` section: where violations and camera-health incidents are delivered (sinks), and
when a camera counts as unhealthy (`alerts.health`). Part of maskwatch.config's strict schema."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from maskwatch.strict import Strict, unique_names

SINK_NAME = r"^[a-z0-9][a-z0-9_-]{0,31}$"
INCIDENT_KINDS = ("offline", "frozen", "dark", "saturated", "slow")
MESSAGE_KINDS = ("violation", "incident")


class SinkBase(Strict):
    name: str = Field(pattern=SINK_NAME, description="the sink's name: its row in the dashboard and /metrics")
    cameras: list[str] = Field(default_factory=list, description="only these cameras (empty: every camera)")
    kinds: list[Literal["violation", "incident", "report"]] = Field(
        default_factory=lambda: list(MESSAGE_KINDS),
        description="what it is sent: violations, incidents, and (when asked) the scheduled compliance reports")
    verdicts: list[Literal["no_mask"]] = Field(default_factory=lambda: ["no_mask"],
                                               description="the violations' verdicts it is sent")
    min_confidence: float = Field(0.0, ge=0.0, le=1.0, description="only violations with p(no mask) at least this")
    digest_minutes: float = Field(0.0, ge=0.0, le=1440, description="0: one message per violation; N: one "
                                  "digest per camera every N minutes (incidents are always sent at once)")

    verdicts: list[Literal["no_mask", "mask_incorrect"]] = Field(
        ["no_mask", "mask_incorrect"], min_length=1, description="which violations: a site may send masks worn "
                                                                 "incorrectly (a reminder) to another sink, or none")

    def wants(self, kind: str, camera: str, confidence: float | None = None, verdict: str | None = None) -> bool:
        # a report is of the whole site ("" for a camera): a sink's camera list does not filter it
        if kind not in self.kinds or (self.cameras and camera and camera not in self.cameras):
            return False
        if verdict is not None and verdict not in self.verdicts:
            return False
        return confidence is None or confidence >= self.min_confidence


class WebhookSink(SinkBase):
    type: Literal["webhook"]
    url: str = Field(description="POSTed JSON (the payload schema in docs/alerts.md); may hold a token: use ${ENV}")
    timeout_s: float = Field(5.0, gt=0, le=60)
    hmac_secret: str | None = Field(None, description="signs each body: X-Maskwatch-Signature: sha256=<hex>; "
                                                      "use ${ENV}")
    format: Literal["maskwatch", "slack", "teams", "template"] = Field(
        "maskwatch", description="the body: maskwatch.alert/1 JSON, a Slack or a Microsoft Teams message, or "
                                 "`template` (docs/alerts.md)")
    template: str | None = Field(None, max_length=20_000, description="format template: a Jinja2 template of the "
                                 "body, rendered sandboxed with `message` (the alert/1 object) and a tojson filter")
    content_type: str = Field("application/json", pattern=r"^[\w.+-]+/[\w.+-]+(; ?charset=[\w-]+)?$",
                              description="the body's Content-Type (format template)")

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("a webhook URL starts with http:// or https://")
        return v

    @model_validator(mode="after")
    def _template(self):
        from maskwatch.wire.alert_formats import compile_template

        if (self.format == "template") != (self.template is not None):
            raise ValueError("format: template and a template go together (give both, or neither)")
        if self.template is not None:
            compile_template(self.template)  # FormatError, a ValueError: the sink's field names it
        return self


class MqttSink(SinkBase):
    type: Literal["mqtt"]
    host: str
    port: int = Field(1883, ge=1, le=65535)
    tls: bool = Field(False, description="TLS to the broker (port 8883 usually)")
    ca_file: str | None = Field(None, description="the broker's CA (PEM); default: the system's")
    username: str | None = None
    password: str | None = Field(None, description="use ${ENV}")
    topic_prefix: str = Field("maskwatch", min_length=1, max_length=100,
                              description="topics: PREFIX/SITE/CAMERA/violation, .../incident, .../availability")
    qos: Literal[0, 1, 2] = 1
    timeout_s: float = Field(10.0, gt=0, le=120, description="for the broker to acknowledge a message")
    ha_discovery: bool = Field(False, description="announce each camera to Home Assistant (MQTT discovery): a binary "
                                                  "sensor 'mask violation', a sensor 'compliance today', availability")
    discovery_prefix: str = Field("homeassistant", pattern=r"^[A-Za-z0-9_-]{1,64}$",
                                  description="Home Assistant's discovery prefix")

    @field_validator("topic_prefix")
    @classmethod
    def _topic(cls, v: str) -> str:
        if any(c in v for c in "#+\0") or v.startswith("/") or v.endswith("/"):
            raise ValueError("a topic prefix has no #, + or NUL and no leading or trailing /")
        return v


Sink = Annotated[WebhookSink | MqttSink, Field(discriminator="type")]


class HealthConfig(Strict):
    """When a camera's picture counts as a problem; each opens an incident when it starts and closes
    it when it ends (one alert each way)."""
    enabled: bool = True
    offline_s: float = Field(60.0, ge=1, le=86_400, description="offline (or ingest silent) this long")
    frozen_s: float = Field(60.0, ge=1, le=86_400, description="the same picture, to the pixel, this long")
    dark_s: float = Field(30.0, ge=1, le=86_400, description="black (or saturated) this long")
    dark_level: float = Field(16.0, ge=0, le=128, description="mean brightness (0-255) at or below which a "
                              "flat picture is black")
    bright_level: float = Field(240.0, ge=128, le=255, description="... at or above which it is saturated")
    flat_contrast: float = Field(6.0, ge=0, le=64, description="brightness spread below which a picture is flat")
    slow_fraction: float = Field(0.5, ge=0, le=1, description="fps read below this share of the camera's fps "
                                                              "(0: never slow)")
    slow_s: float = Field(60.0, ge=1, le=86_400)


class AlertsConfig(Strict):
    sinks: list[Sink] = Field(default_factory=list)
    dashboard_url: str | None = Field(None, description="the dashboard's address, for links in the messages")
    retry_max_s: float = Field(300.0, ge=1, le=3600, description="the longest wait between two tries of a message")
    keep_days: float = Field(7.0, gt=0, le=365, description="delivered messages are kept this long (then deleted)")
    give_up_days: float = Field(7.0, gt=0, le=365, description="a message not delivered for this long is dropped "
                                                               "(counted, logged)")
    health: HealthConfig = Field(default_factory=HealthConfig)

    @field_validator("sinks")
    @classmethod
    def _unique(cls, v: list) -> list:
        return unique_names(v, "sink")


def sinks_of(config) -> list:
    """A maskwatch.config.Config's sinks, with events.webhook_url (the older single webhook) as one
    named "webhook"."""
    sinks = list(config.alerts.sinks)
    ev = config.events
    if ev.webhook_url and all(s.name != "webhook" for s in sinks):
        sinks.append(WebhookSink(type="webhook", name="webhook", url=ev.webhook_url, timeout_s=ev.webhook_timeout_s))
    return sinks
