"""Credentials never reach logs, status or pages: a URL shows its scheme, host, port and path, and
nothing of its user information, query values or fragment."""
from __future__ import annotations

import pytest

from maskwatch.redact import origin, redact_text, redact_url


@pytest.mark.parametrize("url, shown", [
    ("rtsp://admin:hunter2@10.1.2.3:554/Streaming/101", "rtsp://***@10.1.2.3:554/Streaming/101"),
    ("http://cam.local/video.mjpg?user=a&password=hunter2", "http://cam.local/video.mjpg?user=***&password=***"),
    ("rtsp://10.1.2.3/live", "rtsp://10.1.2.3/live"),
    ("rtsp://admin:hunter2/x#y?z@10.1.2.3/live", "rtsp://***@10.1.2.3/live"),  # '/', '#', '?' in a password
    # vendors name their secrets freely: every query value is hidden, whatever its name
    ("rtsp://cam/live?access_token=hunter2&api_key=hunter2&psw=hunter2",
     "rtsp://cam/live?access_token=***&api_key=***&psw=***"),
    ("http://cam/videostream.cgi?loginuse=admin&loginpas=hunter2", "http://cam/videostream.cgi?loginuse=***&loginpas=***"),
    ("http://cam/video?hunter2", "http://cam/video?***"),
    ("https://cam/stream#hunter2", "https://cam/stream#***"),
    ("  rtsp://u:hunter2@cam/s  ", "rtsp://***@cam/s"),
])
def test_redact_url_hides_credentials(url, shown):
    assert redact_url(url) == shown
    assert "hunter2" not in redact_text(f"could not open {url}: timeout")


@pytest.mark.parametrize("url, shown", [
    ("https://hooks.slack.com/services/T000/B000/hunter2", "https://hooks.slack.com"),
    ("https://discord.com/api/webhooks/1/hunter2?wait=true", "https://discord.com"),
    ("http://u:hunter2@127.0.0.1:8080/hook#x", "http://127.0.0.1:8080"),
    ("not a url hunter2", "***"),
])
def test_origin_shows_where_a_webhook_sends_and_nothing_of_its_path(url, shown):
    assert origin(url) == shown
