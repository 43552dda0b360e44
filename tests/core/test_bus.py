"""Both buses honour the semantics the services rely on (the Redis one against a real server)."""
import time

import pytest

from maskwatch.membus import MemoryBus


@pytest.fixture(params=["redis", "memory"])
def bus(request, redis_prefix):
    if request.param == "memory":
        return MemoryBus(redis_prefix)
    return request.getfixturevalue("redis_bus")


def test_group_hands_each_entry_to_one_consumer_until_acked(bus):
    s = bus.keys.frames("cam")
    bus.ensure_group(s, "g", "0")
    ids = [bus.add(s, {"n": i}) for i in range(5)]
    a = bus.read_group("g", "a", [s], 3, block_ms=100)
    b = bus.read_group("g", "b", [s], 10, block_ms=100)
    assert [e.id for e in a] + [e.id for e in b] == ids
    assert a[0].fields[b"n"] == b"0"
    assert bus.pending_count(s, "g") == 5
    bus.ack(s, "g", [e.id for e in a])
    assert bus.pending_count(s, "g") == 2
    assert [e.id for e in bus.read_group("g", "b", [s], 10, None, pending=True)] == ids[3:]
    assert bus.read_group("g", "a", [s], 10, block_ms=50) == []


def test_idle_entries_are_claimed_and_trimmed_ones_reported(bus):
    s = bus.keys.frames("cam")
    bus.ensure_group(s, "g", "0")
    for i in range(3):
        bus.add(s, {"n": i})
    got = bus.read_group("g", "dead", [s], 10, block_ms=100)
    for i in range(20):  # trim the first entries away while they are pending
        bus.add(s, {"m": i}, maxlen=5)
    time.sleep(0.12)
    claimed, deleted = bus.claim_idle(s, "g", "alive", 100, 10)
    assert not claimed and sorted(deleted) == sorted(e.id for e in got)
    assert bus.pending_count(s, "g") == 0


def test_capped_stream_and_blocking_read(bus):
    s = bus.keys.frames("cam")
    bus.ensure_group(s, "g", "$")
    for i in range(50):
        bus.add(s, {"n": i}, maxlen=10)
    assert bus.length(s) == 10  # short streams are trimmed exactly
    assert len(bus.read_group("g", "c", [s], 100, block_ms=300)) == 10
    t = time.monotonic()
    assert bus.read_group("g", "c", [s], 1, block_ms=200) == []
    assert time.monotonic() - t >= 0.19


def test_hashes_and_blobs(bus):
    bus.put_hash(bus.keys.camera_status("cam"), {"state": "online", "fps": 4.5})
    assert bus.get_hash(bus.keys.camera_status("cam")) == {"state": "online", "fps": "4.5"}
    bus.put_blob(bus.keys.live("cam"), b"\xff\xd8jpeg")
    assert bus.get_blob(bus.keys.live("cam")) == b"\xff\xd8jpeg"
    assert bus.get_blob(bus.keys.live("other")) is None
