"""Alert bodies for chat and ticket tools (maskwatch.wire.alert_formats), posted to a real receiver:
each format's documented shape, the message id and the signature kept, a sandboxed template."""
from __future__ import annotations

import datetime as dt
import hmac
import json
import re
import textwrap

import pytest
import yaml
from support.settings import ROOT

from maskwatch.alerts_config import WebhookSink
from maskwatch.config import ConfigError, parse_config
from maskwatch.wire import alert
from maskwatch.wire.alert_formats import FormatError, render
from maskwatch.workers.alerts.sinks import SinkError, WebhookSender

T = dt.datetime(2026, 12, 6, 9, 30, tzinfo=dt.UTC)
VIOLATION = alert.violation(site="Depot", violation_id="v1", camera_id="gate", camera_name="North gate",
                            first_seen=T, p_no_mask=0.93, face_score=0.9, box=[10, 10, 50, 58], frame_size=(1280, 720),
                            model_version="m1", url="https://mw.example/violations/v1", verdict="mask_incorrect")
INCIDENT = alert.incident(site="Depot", incident_id="i1", camera_id="gate", camera_name="North gate",
                          kind="offline", state="opened", started_at=T, ended_at=None, detail="no frames for 60 s")
DIGEST = alert.digest(site="Depot", camera_id="gate", camera_name="North gate", violations=[VIOLATION])
TEMPLATE = ('{"summary": {{ message.camera.name | tojson }}, "id": {{ message.message_id | tojson }}, '
            '"kind": {{ message.type | tojson }}}')


def sink(url: str, **kw) -> WebhookSink:
    return WebhookSink(name="chat", type="webhook", url=url, hmac_secret="s3cret-key-123", **kw)


def slack_shape(body: dict) -> None:
    # Slack's incoming webhooks: `text` (the notification), optional Block Kit `blocks`
    assert isinstance(body["text"], str) and body["text"]
    assert all(b["type"] in ("section", "context", "header", "divider") for b in body["blocks"])
    section = body["blocks"][0]
    assert section["text"]["type"] == "mrkdwn" and body["text"] in section["text"]["text"]


def teams_shape(body: dict) -> None:
    # Teams Workflows / incoming webhooks: a message whose attachment is an Adaptive Card
    assert body["type"] == "message"
    (att,) = body["attachments"]
    assert att["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = att["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["type"] == "TextBlock" and card["body"][1]["type"] == "FactSet"
    assert all(set(f) == {"title", "value"} and isinstance(f["value"], str) for f in card["body"][1]["facts"])


@pytest.mark.parametrize("payload", [VIOLATION, INCIDENT, DIGEST], ids=["violation", "incident", "digest"])
@pytest.mark.parametrize("fmt, check", [("slack", slack_shape), ("teams", teams_shape)])
def test_each_tool_gets_its_own_shape_signed_and_named(target, payload, fmt, check):
    target.secret = "s3cret-key-123"  # the receiver refuses a body whose signature does not match
    WebhookSender(sink(target.url, format=fmt)).send(payload)
    (body,) = target.got
    check(body)
    (headers,) = target.headers
    assert headers["X-Maskwatch-Id"] == payload["message_id"] and headers["X-Maskwatch-Format"] == fmt
    assert target.bad_signatures == 0


def test_the_words_say_what_happened_where():
    text = json.loads(render("slack", VIOLATION))["text"]
    assert text == "Mask violation at North gate (Depot): mask worn incorrectly"
    card = json.loads(render("teams", INCIDENT))["attachments"][0]["content"]
    assert card["body"][0]["text"] == "Camera offline at North gate (Depot): opened"
    assert "actions" not in card and json.loads(render("teams", VIOLATION))["attachments"][0]["content"][
        "actions"][0]["url"] == VIOLATION["url"]


def test_a_template_makes_any_body_and_is_signed_as_sent(target):
    target.secret = "s3cret-key-123"
    WebhookSender(sink(target.url, format="template", template=TEMPLATE)).send(VIOLATION)
    (raw,) = target.raw
    assert json.loads(raw) == {"summary": "North gate", "id": "violation:v1", "kind": "violation"}
    want = "sha256=" + hmac.new(b"s3cret-key-123", raw, "sha256").hexdigest()
    assert target.headers[0]["X-Maskwatch-Signature"] == want


def test_a_plain_text_template(target):
    WebhookSender(sink(target.url, format="template", template="{{ message.site }}: {{ message.type }}",
                       content_type="text/plain; charset=utf-8")).send(INCIDENT)
    assert target.raw == [b"Depot: incident"] and target.got == []


@pytest.mark.parametrize("template, error", [
    ("{{ message.__class__.__mro__ }}", "SecurityError"),          # Python's internals: the sandbox says no
    ("{{ ''.__class__.__subclasses__() }}", "SecurityError"),
    ("{{ message.no_such_field }}", "UndefinedError"),             # a typo fails loudly, not as an empty string
])
def test_a_template_cannot_reach_python_and_fails_as_a_delivery(target, template, error):
    with pytest.raises(SinkError, match=f"template failed on a violation message: {error}"):
        WebhookSender(sink(target.url, format="template", template=template)).send(VIOLATION)
    assert target.raw == []


@pytest.mark.parametrize("extra, error", [
    ({"format": "template"}, "template and a template go together"),
    ({"template": "{{ message.site }}"}, "template and a template go together"),
    ({"format": "template", "template": "{% if %}"}, "template does not compile"),
    ({"format": "discord"}, "format"),
    ({"format": "template", "template": "x", "content_type": "text plain"}, "content_type"),
])
def test_a_bad_format_is_refused_with_the_config(extra, error):
    raw = {"alerts": {"sinks": [{"name": "chat", "type": "webhook", "url": "https://hooks.example/x", **extra}]}}
    with pytest.raises(ConfigError, match=error):
        parse_config(raw, env={})


def test_unknown_format_names_the_known_ones():
    with pytest.raises(FormatError, match="expected one of maskwatch, slack, teams, template"):
        render("discord", VIOLATION)


def test_the_documented_example_config_works():
    text = (ROOT / "docs" / "alerts.md").read_text()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "format: template" in b]
    raw = yaml.safe_load(textwrap.dedent(block))
    env = {"SLACK_WEBHOOK_URL": "https://hooks.example/s", "TEAMS_WORKFLOW_URL": "https://hooks.example/t",
           "TICKETS_HMAC": "k" * 16}
    sinks = parse_config(raw, env=env).alerts.sinks
    assert [s.format for s in sinks] == ["slack", "teams", "template"]
    body = json.loads(render("template", VIOLATION, sinks[2].template))
    assert body == {"title": "Mask violation at North gate", "dedupe_key": "violation:v1"}
