"""The camera status's frames per second: steady over the last seconds, whatever the phase of
the frames against the status writes (a 0.6 s count once read 1.83 for a 4 fps camera)."""
from __future__ import annotations

import pytest

from maskwatch.ingest.rate import MIN_SPAN_S, WINDOW_S, RateMeter


def _feed(meter: RateMeter, fps: float, seconds: float, t0: float = 100.0, phase: float = 0.0) -> float:
    """Frames at fps from t0 + phase until t0 + seconds (then the moment the status is written)."""
    meter.start(t0)
    i = 0
    while phase + i / fps <= seconds:
        meter.add(t0 + phase + i / fps)
        i += 1
    return t0 + seconds


@pytest.mark.parametrize("fps", [1.0, 4.0, 10.0, 25.0])
@pytest.mark.parametrize("phase", [0.0, 0.1, 0.24])
@pytest.mark.parametrize("read_after", [0.0, 0.3, 0.6])
def test_a_steady_camera_reads_its_rate_at_any_moment(fps, phase, read_after):
    meter = RateMeter()
    now = _feed(meter, fps, 3.0 + read_after, phase=phase)
    # within one frame of the truth: the old 0.6 s count was off by up to half of it
    assert meter.rate(now) == pytest.approx(fps, rel=0.35 if fps < 4 else 0.12)


@pytest.mark.parametrize(("events", "now", "expected"), [
    ([], 110.0, 0.0),                                   # started, nothing came
    ([(100.01, 1)], 100.02, 1 / MIN_SPAN_S),            # one frame right after the start is not 100 fps
    ([(100.0 + i, 1) for i in range(20)], 119.5, 5 / WINDOW_S),  # 1 fps for 20 s: the last 5 s count
    ([(101.0, 30)], 101.0 + WINDOW_S + 0.1, 0.0),       # a camera that stopped sending reads 0 again
    ([(101.0, 0)], 102.0, 0.0),                         # a progress report of no new frames
])
def test_the_window(events, now, expected):
    meter = RateMeter()
    meter.start(100.0)
    for t, n in events:
        meter.add(t, n)
    assert meter.rate(now) == pytest.approx(expected)


def test_not_started_reads_zero_and_a_restart_forgets_the_past():
    meter = RateMeter()
    assert meter.rate(5.0) == 0.0
    _feed(meter, 10.0, 3.0)
    meter.start(200.0)
    assert meter.rate(200.5) == 0.0


def test_only_the_window_is_kept():
    meter = RateMeter()
    meter.start(0.0)
    for i in range(10_000):
        meter.add(i / 25)
    assert len(meter._events) <= WINDOW_S * 25 + 1
