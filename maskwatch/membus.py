"""An in-process bus with RedisBus's interface, for `maskwatch run` without a Redis server.

Same semantics where the services rely on them: capped streams, consumer groups that hand each entry
to one consumer, pending entries until acked, and claiming of entries a consumer left idle.
Nothing survives the process: this is the embedded demo path, not the site path.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict

from maskwatch.bus import Entry, Keys
from maskwatch.errors import NoGroup


def _key(i: str) -> tuple[int, int]:
    ms, _, seq = i.partition("-")
    return int(ms), int(seq or 0)


def _b(v) -> bytes:
    return v if isinstance(v, bytes) else str(v).encode()


class _Group:
    def __init__(self, last: str):
        self.last = last
        self.pel: dict[str, list] = {}  # id -> [consumer, delivered_at, deliveries]


class MemoryBus:
    def __init__(self, prefix: str = "mw"):
        self.keys = Keys(prefix)
        self._cond = threading.Condition()
        self._streams: dict[str, OrderedDict[str, dict[bytes, bytes]]] = {}
        self._groups: dict[tuple[str, str], _Group] = {}
        self._hashes: dict[str, dict[str, str]] = {}
        self._blobs: dict[str, bytes] = {}
        self._last = (0, 0)

    def _next_id(self) -> str:
        ms = int(time.time() * 1000)
        self._last = (ms, 0) if ms > self._last[0] else (self._last[0], self._last[1] + 1)
        return f"{self._last[0]}-{self._last[1]}"

    def add(self, stream, fields, maxlen=None):
        with self._cond:
            s = self._streams.setdefault(stream, OrderedDict())
            i = self._next_id()
            s[i] = {_b(k): _b(v) for k, v in fields.items()}
            while maxlen is not None and len(s) > maxlen:
                s.popitem(last=False)
            self._cond.notify_all()
            return i

    def ensure_group(self, stream, group, start="0"):
        with self._cond:
            self._streams.setdefault(stream, OrderedDict())
            if (stream, group) not in self._groups:
                last = next(reversed(self._streams[stream]), "0-0") if start == "$" else "0-0"
                self._groups[(stream, group)] = _Group(last)

    def read_group(self, group, consumer, streams, count, block_ms, pending=False):
        deadline = time.monotonic() + (block_ms or 0) / 1000
        with self._cond:
            while True:
                out = self._pending(group, consumer, streams, count) if pending else \
                    self._deliver(group, consumer, streams, count)
                remaining = deadline - time.monotonic()
                if out or pending or not block_ms or remaining <= 0:
                    return out
                self._cond.wait(remaining)

    def _deliver(self, group, consumer, streams, count):
        out = []
        now = time.monotonic()
        for name in streams:
            g = self._groups.get((name, group))
            if g is None:
                raise NoGroup(f"NOGROUP {group} on {name}")
            after = _key(g.last)
            for i, f in self._streams[name].items():
                if _key(i) <= after:
                    continue
                if len([e for e in out if e.stream == name]) >= count:
                    break
                out.append(Entry(name, i, dict(f)))
                g.last = i
                g.pel[i] = [consumer, now, 1]
        return out

    def _pending(self, group, consumer, streams, count):
        out = []
        for name in streams:
            g = self._groups.get((name, group))
            for i, (owner, _, _) in list(g.pel.items()) if g else []:
                if owner != consumer or len(out) >= count:
                    continue
                if i not in self._streams[name]:  # trimmed while pending: never processable
                    del g.pel[i]
                    continue
                out.append(Entry(name, i, dict(self._streams[name][i])))
        return out

    def ack(self, stream, group, ids, delete=False):
        with self._cond:
            g = self._groups.get((stream, group))
            for i in ids if g else []:
                g.pel.pop(i, None)
            if delete:
                for i in ids:
                    self._streams.get(stream, {}).pop(i, None)

    def claim_idle(self, stream, group, consumer, min_idle_ms, count):
        with self._cond:
            g = self._groups.get((stream, group))
            claimed, deleted = [], []
            now = time.monotonic()
            for i, rec in list(g.pel.items()) if g else []:
                if len(claimed) >= count:
                    break
                if now - rec[1] < min_idle_ms / 1000:
                    continue
                if i not in self._streams[stream]:
                    deleted.append(i)
                    del g.pel[i]
                    continue
                g.pel[i] = [consumer, now, rec[2] + 1]
                claimed.append(Entry(stream, i, dict(self._streams[stream][i])))
            return claimed, deleted

    def pending_count(self, stream, group):
        with self._cond:
            g = self._groups.get((stream, group))
            return len(g.pel) if g else 0

    def length(self, stream):
        with self._cond:
            return len(self._streams.get(stream, ()))

    def oldest_age_s(self, stream):
        with self._cond:
            first = next(iter(self._streams.get(stream, {})), None)
        return 0.0 if first is None else max(0.0, time.time() - int(first.partition("-")[0]) / 1000)

    def put_hash(self, key, mapping, ttl_s=None):
        with self._cond:
            self._hashes.setdefault(key, {}).update({k: str(v) for k, v in mapping.items()})

    def get_hash(self, key):
        with self._cond:
            return dict(self._hashes.get(key, {}))

    def del_hash_fields(self, key, fields):
        with self._cond:
            for f in fields:
                self._hashes.get(key, {}).pop(f, None)

    def put_blob(self, key, value, ttl_s=None):
        with self._cond:
            self._blobs[key] = bytes(value)

    def get_blob(self, key):
        with self._cond:
            return self._blobs.get(key)

    def scan_keys(self, pattern: str) -> list[str]:
        import fnmatch

        with self._cond:
            keys = set(self._hashes) | set(self._blobs) | set(self._streams)
        return sorted(k for k in keys if fnmatch.fnmatchcase(k, pattern))

    def now(self) -> float:
        return time.time()

    def ping(self):
        return True

    def close(self):
        pass


def make_bus(redis_url: str | None, prefix: str, frames_url: str | None = None):
    """RedisBus for a configured URL (its frame streams on `frames_url`'s server when given:
    maskwatch.splitbus), else the in-process bus."""
    if redis_url:
        from maskwatch.bus import RedisBus
        bus = RedisBus(redis_url, prefix)
        if frames_url and frames_url != redis_url:
            from maskwatch.splitbus import SplitBus
            return SplitBus(bus, RedisBus(frames_url, prefix))
        return bus
    return MemoryBus(prefix)


