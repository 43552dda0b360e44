"""Frames stay on the host that reads them: a Bus whose frame streams live on one Redis (the edge
host's, `redis.frames_url`) and everything else on the site's (`redis.url`).

An edge host runs ingest and its workers beside a Redis of its own: every JPEG (30-110 KB, 5 a
second a camera) goes from ingest to a worker over loopback or the host's network, and only what
the site needs crosses to the central Redis: detections (crops, and a frame only as a violation's
evidence), status hashes and live images. Services are given one bus as ever and never know.
"""
from __future__ import annotations

from maskwatch.bus import Bus


class SplitBus:
    def __init__(self, site: Bus, frames: Bus):
        if site.keys.prefix != frames.keys.prefix:
            raise ValueError("SplitBus: both buses must use the same key prefix")
        self.site, self.frames, self.keys = site, frames, site.keys
        self._frames_prefix = site.keys.frames("")

    def _on(self, key: str) -> Bus:
        return self.frames if key.startswith(self._frames_prefix) else self.site

    def _one(self, streams: list[str]) -> Bus:
        buses = {id(self._on(s)): self._on(s) for s in streams}
        if len(buses) > 1:  # one blocking read cannot wait on two servers
            raise ValueError("SplitBus.read_group: frame streams and other streams in one read")
        return next(iter(buses.values()), self.site)

    # streams: by key
    def add(self, stream, fields, maxlen=None):
        return self._on(stream).add(stream, fields, maxlen)

    def ensure_group(self, stream, group, start="0"):
        return self._on(stream).ensure_group(stream, group, start)

    def read_group(self, group, consumer, streams, count, block_ms, pending=False):
        return self._one(streams).read_group(group, consumer, streams, count, block_ms, pending=pending)

    def ack(self, stream, group, ids, delete=False):
        return self._on(stream).ack(stream, group, ids, delete)

    def claim_idle(self, stream, group, consumer, min_idle_ms, count):
        return self._on(stream).claim_idle(stream, group, consumer, min_idle_ms, count)

    def pending_count(self, stream, group):
        return self._on(stream).pending_count(stream, group)

    def length(self, stream):
        return self._on(stream).length(stream)

    def oldest_age_s(self, stream):
        return self._on(stream).oldest_age_s(stream)

    # hashes, blobs and keys: the site's
    def put_hash(self, key, mapping, ttl_s=None):
        return self.site.put_hash(key, mapping, ttl_s)

    def get_hash(self, key):
        return self.site.get_hash(key)

    def del_hash_fields(self, key, fields):
        return self.site.del_hash_fields(key, fields)

    def put_blob(self, key, value, ttl_s=None):
        return self.site.put_blob(key, value, ttl_s)

    def get_blob(self, key):
        return self.site.get_blob(key)

    def scan_keys(self, pattern):
        return self.site.scan_keys(pattern)

    def now(self):
        # the clock that stamped the frames' entry ids: what a worker ages frames by
        return self.frames.now()

    def ping(self):
        return self.site.ping() and self.frames.ping()

    def close(self):
        self.frames.close()
        self.site.close()
