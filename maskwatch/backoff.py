"""The one backoff of the project: capped exponential delays, with jitter where many clients retry
against one server (cameras, alert sinks) so that they do not retry in lockstep."""
from __future__ import annotations

import random


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random | None = None,
                  jitter: float = 0.2) -> float:
    """The delay before retry `attempt` (1, 2, ...): initial * 2^(attempt-1), capped, times a
    uniform factor in [1 - jitter, 1 + jitter] when an rng is given."""
    delay = min(cap, initial * 2 ** max(0, attempt - 1))
    return delay * rng.uniform(1 - jitter, 1 + jitter) if rng is not None else delay


class Backoff:
    """Consecutive failures of one loop: `next()` is the delay to wait now, `reset()` after a success."""

    def __init__(self, initial: float, cap: float, rng: random.Random | None = None, jitter: float = 0.2):
        self.initial, self.cap, self.rng, self.jitter = initial, cap, rng, jitter
        self.attempt = 0

    def next(self) -> float:
        self.attempt += 1
        return backoff_delay(self.attempt, self.initial, self.cap, self.rng, self.jitter)

    def reset(self) -> None:
        self.attempt = 0
