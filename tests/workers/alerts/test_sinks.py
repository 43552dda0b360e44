"""The webhook sender against real HTTP servers on loopback."""
from __future__ import annotations

import pytest
from support.receivers import Webhook

from maskwatch.alerts_config import WebhookSink
from maskwatch.workers.alerts.sinks import SinkError, WebhookSender

PAYLOAD = {"schema": "maskwatch.alert/1", "message_id": "violation:abc", "kind": "violation"}


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failed_delivery_and_nothing_follows_it(target, code):
    hop = Webhook(redirect=(code, target.url + "?to=elsewhere")).start()
    try:
        sender = WebhookSender(WebhookSink(name="hook", type="webhook", url=hop.url, hmac_secret="s3cret-key-123"))
        with pytest.raises(SinkError, match=rf"HTTP {code}: a redirect to http://127\.0\.0\.1:\d+, not followed"):
            sender.send(PAYLOAD)
    finally:
        hop.stop()
    # neither the body nor its id and signature moved on, by POST or by GET
    assert target.got == [] and target.headers == [] and target.other == []


def test_a_direct_delivery_still_arrives_signed(target):
    target.secret = "s3cret-key-123"
    WebhookSender(WebhookSink(name="hook", type="webhook", url=target.url, hmac_secret="s3cret-key-123")).send(PAYLOAD)
    assert target.ids() == ["violation:abc"] and target.bad_signatures == 0
