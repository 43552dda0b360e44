"""The one backoff: exponential, capped, jittered where an rng is given."""
from __future__ import annotations

import random

import pytest

from maskwatch.backoff import Backoff, backoff_delay


@pytest.mark.parametrize("attempt, expected", [(0, 0.5), (1, 0.5), (2, 1.0), (3, 2.0), (9, 2.0)])
def test_without_jitter_it_doubles_to_its_cap(attempt, expected):
    assert backoff_delay(attempt, 0.5, 2.0) == expected


def test_jitter_stays_within_its_share():
    rng = random.Random(1)
    delays = [backoff_delay(3, 1.0, 30.0, rng) for _ in range(200)]
    assert 4.0 * 0.8 <= min(delays) < max(delays) <= 4.0 * 1.2


def test_a_loop_backs_off_and_starts_over_after_a_success():
    b = Backoff(0.5, 2.0)
    assert [b.next() for _ in range(4)] == [0.5, 1.0, 2.0, 2.0]
    b.reset()
    assert b.next() == 0.5
