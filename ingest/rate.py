"""Frames per second over the last few seconds, for a camera's status.

Counted over the 0.6 s between two status writes, a camera capped at 4 fps read 1.8 or 5 by
where its frames fell (a test and the dashboard saw both); over a few seconds it reads what the
camera does. Bounded: only the events inside the window are kept.
"""
from __future__ import annotations

from collections import deque

WINDOW_S = 5.0
MIN_SPAN_S = 1.0  # right after a start, one frame over a few ms is not hundreds of fps


class RateMeter:
    def __init__(self, window_s: float = WINDOW_S):
        self.window_s = window_s
        self._events: deque[tuple[float, int]] = deque()
        self._since: float | None = None

    def start(self, now: float) -> None:
        """Count from now on (the camera is online again): what came before says nothing of it."""
        self._events.clear()
        self._since = now

    def add(self, now: float, n: int = 1) -> None:
        if n > 0:
            self._events.append((now, n))
        self._trim(now)

    def rate(self, now: float) -> float:
        if self._since is None:
            return 0.0
        self._trim(now)
        span = min(self.window_s, max(now - self._since, MIN_SPAN_S))
        return sum(n for _, n in self._events) / span

    def _trim(self, now: float) -> None:
        while self._events and self._events[0][0] <= now - self.window_s:
            self._events.popleft()
