"""Login rate limiting per username + client address.

With a Redis bus the counters live in Redis, so every gunicorn worker (and every dashboard replica)
sees the same count; otherwise they are per process. After `max_failures` failed attempts within
`window_s` further attempts are refused (HTTP 429) until the window ends; a success resets.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict, deque
from typing import Protocol

from redis import RedisError

log = logging.getLogger(__name__)
MAX_FAILURES = 5
WINDOW_S = 300.0


class LoginLimiter(Protocol):
    def blocked(self, key: str) -> bool: ...
    def failed(self, key: str) -> None: ...
    def reset(self, key: str) -> None: ...


class MemoryLimiter:
    """Sliding window per key; the number of keys is capped so a flood cannot grow memory."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S, max_keys: int = 10_000):
        self.max_failures, self.window_s, self.max_keys = max_failures, window_s, max_keys
        self._fails: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._fails.get(key, deque())
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times

    def blocked(self, key: str) -> bool:
        with self._lock:
            return len(self._recent(key, time.monotonic())) >= self.max_failures

    def failed(self, key: str) -> None:
        with self._lock:
            now = time.monotonic()
            times = self._recent(key, now)
            times.append(now)
            self._fails[key] = times
            self._fails.move_to_end(key)
            while len(self._fails) > self.max_keys:
                self._fails.popitem(last=False)

    def reset(self, key: str) -> None:
        with self._lock:
            self._fails.pop(key, None)


class RedisLimiter:
    """Fixed window per key in Redis. Fails open (logs) when Redis cannot be reached: the password
    check still stands, and operators must not be locked out by a Redis restart."""

    def __init__(self, client, prefix: str, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S):
        self.r, self.prefix = client, prefix
        self.max_failures, self.window_s = max_failures, int(window_s)

    def _key(self, key: str) -> str:
        # hashed: the username is user input and must not shape key names
        return f"{self.prefix}:login_fail:{hashlib.sha256(key.encode()).hexdigest()[:32]}"

    def blocked(self, key: str) -> bool:
        try:
            return int(self.r.get(self._key(key)) or 0) >= self.max_failures
        except (RedisError, OSError) as e:
            log.warning("login limiter: Redis unavailable (%s); not limiting", type(e).__name__)
            return False

    def failed(self, key: str) -> None:
        k = self._key(key)
        try:
            with self.r.pipeline(transaction=True) as p:
                p.set(k, 0, ex=self.window_s, nx=True)  # the window starts at the first failure
                p.incr(k)
                p.execute()
        except (RedisError, OSError) as e:
            log.warning("login limiter: Redis unavailable (%s); failure not counted", type(e).__name__)

    def reset(self, key: str) -> None:
        try:
            self.r.delete(self._key(key))
        except (RedisError, OSError) as e:
            log.warning("login limiter: Redis unavailable (%s)", type(e).__name__)


def make_limiter(bus, prefix: str) -> LoginLimiter:
    if bus is not None and hasattr(bus, "r"):
        return RedisLimiter(bus.r, prefix)
    return MemoryLimiter()
