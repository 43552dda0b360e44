"""The message bus between services: Redis Streams with consumer groups, or an in-process twin.

Both implement one small interface, so ingest, workers and events never know which they talk to.
Redis is the primary, tested path; `MemoryBus` exists for `maskwatch run` on one machine without a
Redis server. Stream entries are dicts of bytes -> bytes; ids are Redis stream ids ("ms-seq").

The bus owns its errors: this is the only module that imports redis (but for the dashboard's
login limiter, which talks to the client until a shared limiter replaces it), and both buses raise
maskwatch.errors' BusUnavailable (cannot reach the server) and NoGroup (a consumer group is gone),
so no service ever matches an error string.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import redis

from maskwatch.errors import BusError, BusUnavailable, NoGroup

log = logging.getLogger(__name__)
Fields = Mapping[bytes | str, bytes | str | int | float]


@dataclass(frozen=True)
class Entry:
    stream: str
    id: str
    fields: dict[bytes, bytes]


class Keys:
    """Every key name, in one place, under a prefix so that servers can be shared."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def frames(self, cam: str) -> str:
        return f"{self.prefix}:frames:{cam}"

    def detections(self, shard: int = 0) -> str:
        """One stream per events shard (maskwatch.shards); shard 0 keeps the name of the single
        stream before shards, so entries left there across an upgrade are read (and refused)."""
        return f"{self.prefix}:detections" if shard == 0 else f"{self.prefix}:detections:{shard}"

    def camera_status(self, cam: str) -> str:
        return f"{self.prefix}:status:camera:{cam}"

    def worker_status(self, worker: str) -> str:
        return f"{self.prefix}:status:worker:{worker}"

    def events_status(self, shard: int = 0) -> str:
        return f"{self.prefix}:status:events:{shard}"

    def cameras(self) -> str:
        """The site's camera list as published at runtime (maskwatch.camera_set)."""
        return f"{self.prefix}:cameras"

    def retention_status(self) -> str:
        return f"{self.prefix}:status:retention"

    def events_identities(self, cam: str) -> str:
        """A camera's violators' appearance descriptors, kept only for events.revisit_s."""
        return f"{self.prefix}:events:identities:{cam}"

    def clip_requests(self, cam: str) -> str:
        """Events asks the camera's ingest for a violation's clip (maskwatch.wire.clip_requests)."""
        return f"{self.prefix}:clipreq:{cam}"

    def clips(self, shard: int = 0) -> str:
        """The clips ingest made for a shard's violations (maskwatch.wire.clips)."""
        return f"{self.prefix}:clips:{shard}"

    def live(self, cam: str) -> str:
        return f"{self.prefix}:live:{cam}"

    def watched(self, cam: str) -> str:
        """Set by the dashboard while someone looks at a camera's live view: workers publish live
        frames only then."""
        return f"{self.prefix}:watched:{cam}"


class Bus(Protocol):
    keys: Keys

    def add(self, stream: str, fields: Fields, maxlen: int | None = None) -> str: ...
    def ensure_group(self, stream: str, group: str, start: str = "0") -> None: ...
    def read_group(self, group: str, consumer: str, streams: list[str], count: int,
                   block_ms: int | None, pending: bool = False) -> list[Entry]: ...
    def ack(self, stream: str, group: str, ids: list[str], delete: bool = False) -> None: ...
    def claim_idle(self, stream: str, group: str, consumer: str, min_idle_ms: int,
                   count: int) -> tuple[list[Entry], list[str]]: ...
    def pending_count(self, stream: str, group: str) -> int: ...
    def length(self, stream: str) -> int: ...
    def oldest_age_s(self, stream: str) -> float: ...
    def put_hash(self, key: str, mapping: Mapping[str, str | int | float], ttl_s: int | None = None) -> None: ...
    def get_hash(self, key: str) -> dict[str, str]: ...
    def del_hash_fields(self, key: str, fields: list[str]) -> None: ...
    def put_blob(self, key: str, value: bytes, ttl_s: int | None = None) -> None: ...
    def get_blob(self, key: str) -> bytes | None: ...
    def scan_keys(self, pattern: str) -> list[str]: ...
    def now(self) -> float: ...
    def ping(self) -> bool: ...
    def close(self) -> None: ...


def _entries(stream: str, rows) -> list[Entry]:
    return [Entry(stream, _s(i), dict(f)) for i, f in rows if f is not None]


def _s(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _translated(fn):
    """Redis's exceptions as the bus's own."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as e:
            raise BusUnavailable(f"bus unavailable: {type(e).__name__}: {e}") from e
        except redis.ResponseError as e:
            if str(e).startswith("NOGROUP"):
                raise NoGroup(f"bus: {e}") from e
            raise BusError(f"bus: {e}") from e
        except redis.RedisError as e:
            raise BusError(f"bus: {type(e).__name__}: {e}") from e
    return call


def _translate_methods(cls):
    for name, value in list(vars(cls).items()):
        if callable(value) and not name.startswith("_"):
            setattr(cls, name, _translated(value))
    return cls


@_translate_methods
class RedisBus:
    """Redis Streams. Short streams (frames) are trimmed exactly; long ones with MAXLEN ~, which
    trims whole radix-tree nodes (about 100 entries) and so stays cheap."""

    def __init__(self, url: str, prefix: str, *, socket_timeout: float = 10.0):
        self.url = url
        self.keys = Keys(prefix)
        self.r = redis.Redis.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=5,
                                      health_check_interval=30)

    def add(self, stream, fields, maxlen=None):
        approximate = maxlen is not None and maxlen >= 1000
        return _s(self.r.xadd(stream, dict(fields), maxlen=maxlen, approximate=approximate))

    def ensure_group(self, stream, group, start="0"):
        try:
            self.r.xgroup_create(stream, group, id=start, mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def read_group(self, group, consumer, streams, count, block_ms, pending=False):
        if not streams:
            return []
        start = "0" if pending else ">"
        reply = self.r.xreadgroup(group, consumer, {s: start for s in streams}, count=count,
                                  block=None if pending else block_ms)
        out: list[Entry] = []
        for stream, rows in reply or []:
            out += _entries(_s(stream), rows)
            # a pending entry trimmed from its stream comes back without fields: it can never be
            # processed, so it is acked here instead of staying pending forever
            gone = [_s(i) for i, f in rows if f is None]
            if gone:
                log.warning("stream %s: %d pending entries of group %s were trimmed before they were "
                            "processed (stream cap too small for the outage)", _s(stream), len(gone), group)
                self.r.xack(stream, group, *gone)
        return out

    def ack(self, stream, group, ids, delete=False):
        """Ack; with `delete`, also remove the entries (their only reader is done with them)."""
        if not ids:
            return
        with self.r.pipeline(transaction=False) as p:
            p.xack(stream, group, *ids)
            if delete:
                p.xdel(stream, *ids)
            p.execute()

    def claim_idle(self, stream, group, consumer, min_idle_ms, count):
        reply = self.r.xautoclaim(stream, group, consumer, min_idle_time=min_idle_ms, start_id="0-0", count=count)
        rows = reply[1] if len(reply) > 1 else []
        deleted = [_s(i) for i in reply[2]] if len(reply) > 2 else []
        return _entries(stream, rows), deleted

    def pending_count(self, stream, group):
        try:
            return int(self.r.xpending(stream, group)["pending"])
        except redis.ResponseError:  # no such stream or group yet
            return 0

    def length(self, stream):
        return int(self.r.xlen(stream))

    def oldest_age_s(self, stream):
        """Age of the stream's first entry by the bus clock; 0 when empty. On a stream whose
        consumer deletes what it has settled, this is the real backlog: the oldest unsettled entry."""
        rows = self.r.xrange(stream, count=1)
        if not rows:
            return 0.0
        return max(0.0, self.now() - int(_s(rows[0][0]).partition("-")[0]) / 1000)

    def put_hash(self, key, mapping, ttl_s=None):
        with self.r.pipeline(transaction=False) as p:
            p.hset(key, mapping={k: str(v) for k, v in mapping.items()})
            if ttl_s:
                p.expire(key, ttl_s)
            p.execute()

    def get_hash(self, key):
        return {_s(k): _s(v) for k, v in self.r.hgetall(key).items()}

    def del_hash_fields(self, key, fields):
        if fields:
            self.r.hdel(key, *fields)

    def put_blob(self, key, value, ttl_s=None):
        self.r.set(key, value, ex=ttl_s)

    def get_blob(self, key):
        return self.r.get(key)

    def scan_keys(self, pattern: str) -> list[str]:
        return sorted(_s(k) for k in self.r.scan_iter(pattern, count=500))

    def now(self) -> float:
        """The Redis server's clock: the clock that stamps stream ids, shared by every host."""
        sec, usec = self.r.time()
        return sec + usec / 1e6

    def ping(self):
        return bool(self.r.ping())

    def close(self):
        self.r.close()
