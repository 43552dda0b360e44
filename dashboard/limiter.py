"""Login rate limiting, shared by every dashboard process: in Redis when there is one, else in the
database (never per process: gunicorn's workers would each allow their own five).

Two counters per attempt, both counted atomically before the password is checked:
- the user name + client address: 5 attempts in 5 minutes (a success resets it), so a brute force
  on one account stops and other users from the same office are not locked out;
- the client address alone: 30 failures in 5 minutes, whatever the user names, so a flood of
  junk names from one address stops too.
Nothing is ever evicted to make room (an in-memory LRU let a flood push the admin's counter out):
counters only end with their window, which bounds what they take by the attempt rate.
"""
from __future__ import annotations

import hashlib
import logging
import time
from typing import Protocol

from redis import RedisError
from sqlalchemy.exc import SQLAlchemyError

from maskwatch.storage import logins

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5          # per user name + address, per window
MAX_PER_ADDRESS = 30      # failures per address, any user names, per window
WINDOW_S = 300


def _digest(kind: str, value: str) -> str:
    # hashed: user names are user input and must not shape key names (or fill columns)
    return hashlib.sha256(f"{kind}|{value}".encode()).hexdigest()[:32]


def _account(name: str, address: str) -> str:
    return _digest("account", f"{name.lower()}|{address}")


def _address(address: str) -> str:
    return _digest("address", address)


class LoginLimiter(Protocol):
    def admit(self, name: str, address: str) -> bool:
        """Count this attempt; False when the account or the address is over its limit."""

    def failed(self, name: str, address: str) -> None:
        """The attempt failed: it counts against the address too."""

    def succeeded(self, name: str, address: str) -> None:
        """The attempt succeeded: the account's counter starts again."""

    def blocked(self, address: str) -> bool:
        """Whether the address is over its failures (counting nothing): API tokens are checked
        after this, so a flood of guesses is refused before any is tried."""


class RedisLimiter:
    """Counters in Redis, fixed windows from the first count. Fails open (logged) when Redis cannot
    be reached: the password check still stands, and a Redis restart must not lock operators out."""

    def __init__(self, client, prefix: str, window_s: int = WINDOW_S):
        self.r, self.prefix, self.window_s = client, prefix, window_s

    def _key(self, digest: str) -> str:
        return f"{self.prefix}:login:{digest}"

    def _incr(self, key: str) -> int:
        with self.r.pipeline(transaction=True) as p:
            p.incr(key)
            p.expire(key, self.window_s, nx=True)  # the window starts at the first count
            return int(p.execute()[0])

    def admit(self, name: str, address: str) -> bool:
        try:
            tries = self._incr(self._key(_account(name, address)))
            return tries <= MAX_ATTEMPTS and int(self.r.get(self._key(_address(address))) or 0) < MAX_PER_ADDRESS
        except (RedisError, OSError) as e:
            log.warning("login limiter: Redis unavailable (%s); not limiting", type(e).__name__)
            return True

    def failed(self, name: str, address: str) -> None:
        try:
            self._incr(self._key(_address(address)))
        except (RedisError, OSError) as e:
            log.warning("login limiter: Redis unavailable (%s); failure not counted", type(e).__name__)

    def succeeded(self, name: str, address: str) -> None:
        try:
            self.r.delete(self._key(_account(name, address)))
        except (RedisError, OSError) as e:
            log.warning("login limiter: Redis unavailable (%s)", type(e).__name__)

    def blocked(self, address: str) -> bool:
        try:
            return int(self.r.get(self._key(_address(address))) or 0) >= MAX_PER_ADDRESS
        except (RedisError, OSError) as e:
            log.warning("login limiter: Redis unavailable (%s); not limiting", type(e).__name__)
            return False


class DatabaseLimiter:
    """The same counters in the database (an upsert each), for a dashboard without Redis."""

    def __init__(self, sessions, window_s: float = WINDOW_S):
        self.sessions, self.window_s = sessions, window_s

    def admit(self, name: str, address: str) -> bool:
        now = time.time()
        try:
            with self.sessions.begin() as s:
                logins.prune(s, now)
                tries = logins.add(s, _account(name, address), now, self.window_s)
                flood = logins.count(s, _address(address), now)
            return tries <= MAX_ATTEMPTS and flood < MAX_PER_ADDRESS
        except SQLAlchemyError as e:  # the login itself needs the database and will say so
            log.warning("login limiter: database unavailable (%s); not limiting", type(e).__name__)
            return True

    def failed(self, name: str, address: str) -> None:
        try:
            with self.sessions.begin() as s:
                logins.add(s, _address(address), time.time(), self.window_s)
        except SQLAlchemyError as e:
            log.warning("login limiter: database unavailable (%s); failure not counted", type(e).__name__)

    def succeeded(self, name: str, address: str) -> None:
        try:
            with self.sessions.begin() as s:
                logins.clear(s, _account(name, address))
        except SQLAlchemyError as e:
            log.warning("login limiter: database unavailable (%s)", type(e).__name__)

    def blocked(self, address: str) -> bool:
        try:
            with self.sessions.begin() as s:
                return logins.count(s, _address(address), time.time()) >= MAX_PER_ADDRESS
        except SQLAlchemyError as e:
            log.warning("login limiter: database unavailable (%s); not limiting", type(e).__name__)
            return False


def make_limiter(bus, prefix: str, sessions) -> LoginLimiter:
    if bus is not None and hasattr(bus, "r"):
        return RedisLimiter(bus.r, prefix)
    return DatabaseLimiter(sessions)
