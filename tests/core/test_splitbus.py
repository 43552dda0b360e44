"""Frames on the edge host's Redis, everything else on the site's (maskwatch.splitbus), against two
real servers: the shared one (its own key prefix) and a private redis-server started by PID."""
from __future__ import annotations

import pytest
import redis
from support.settings import REDIS_URL

from maskwatch.bus import RedisBus
from maskwatch.errors import BusUnavailable
from maskwatch.splitbus import SplitBus


@pytest.fixture
def edge(private_redis):
    return private_redis  # the edge host's Redis


@pytest.fixture
def split(edge, redis_prefix):
    site, frames = RedisBus(REDIS_URL, redis_prefix), RedisBus(edge.url, redis_prefix)
    bus = SplitBus(site, frames)
    yield bus
    bus.close()


def keys_on(url: str, prefix: str) -> set[str]:
    client = redis.Redis.from_url(url)
    try:
        return {k.decode() for k in client.scan_iter(f"{prefix}:*")}
    finally:
        client.close()


def test_frames_go_to_the_edge_and_the_rest_to_the_site(split, edge, redis_prefix):
    k = split.keys
    split.ensure_group(k.frames("cam1"), "workers", "0")
    split.add(k.frames("cam1"), {b"jpeg": b"x" * 1000}, maxlen=10)
    split.add(k.detections(0), {b"meta": b"{}"})
    split.put_hash(k.camera_status("cam1"), {"state": "running"})
    split.put_blob(k.live("cam1"), b"jpeg")
    assert keys_on(edge.url, redis_prefix) == {k.frames("cam1")}
    assert keys_on(REDIS_URL, redis_prefix) == {k.detections(0), k.camera_status("cam1"), k.live("cam1")}
    (e,) = split.read_group("workers", "w1", [k.frames("cam1")], 10, None)
    assert e.fields[b"jpeg"] == b"x" * 1000
    assert split.pending_count(k.frames("cam1"), "workers") == 1
    split.ack(k.frames("cam1"), "workers", [e.id], delete=True)
    assert split.length(k.frames("cam1")) == 0 and split.length(k.detections(0)) == 1


def test_one_read_cannot_wait_on_both_servers(split):
    k = split.keys
    with pytest.raises(ValueError, match="frame streams and other streams in one read"):
        split.read_group("g", "c", [k.frames("cam1"), k.detections(0)], 1, None)


def test_the_clock_is_the_one_that_stamps_frame_ids(split, edge):
    assert abs(split.now() - split.frames.now()) < 1.0
    edge.stop()  # the edge server gone: the frames' clock is gone with it, not quietly the site's
    with pytest.raises(BusUnavailable):
        split.now()


def test_both_buses_need_one_prefix(edge, redis_prefix):
    with pytest.raises(ValueError, match="same key prefix"):
        SplitBus(RedisBus(REDIS_URL, redis_prefix), RedisBus(edge.url, redis_prefix + "x"))
