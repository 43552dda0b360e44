"""The events package's parts without servers: reordering, the ack ledger, steps as typed changes, shards."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from support.detections import detection

from maskwatch.config import ConfigError, parse_config
from maskwatch.shards import Shard, shard_of
from maskwatch.workers.events.changes import Extension, NewViolation, changes_of, hour_of, violation_id
from maskwatch.workers.events.feed import CameraFeed
from maskwatch.workers.events.ledger import AckLedger
from maskwatch.workers.events.service import sightings
from maskwatch.workers.tracker import State, Tracker

EV = parse_config({"events": {"track_max_gap_s": 1.0}}, env={}).events


def test_feed_releases_in_capture_order_after_the_hold():
    feed = CameraFeed(Tracker(EV))
    for i, t in enumerate([3.0, 1.0, 2.0]):
        feed.push(f"e{i}", detection("cam", i, 1000 + t, []), now=10.0 + 0.01 * i)
    assert list(feed.due(10.3, hold_s=0.5)) == []
    assert feed.next_due(0.5) == pytest.approx(10.51)  # the earliest capture, received at 10.01
    got = [m.captured_at for _, m in feed.due(10.6, hold_s=0.5)]
    assert got == [1001.0, 1002.0, 1003.0] and feed.last_capture == 1003.0 and not feed.heap


def test_ledger_acks_an_entry_once_all_its_faces_settled():
    ledger = AckLedger()
    msg = detection("cam", 1, 1000.0, [((0, 0, 10, 10), 0.1), ((20, 0, 30, 10), 0.9)])
    a, b = sightings("1-0", msg)
    ledger.hold("1-0", 2)
    ledger.hold("2-0", 0)  # no faces: nothing to wait for
    ledger.skip("3-0")
    ledger.settle([a])
    assert ledger.take() == ["2-0", "3-0"] and ledger.held == 1
    ledger.settle([b, b])  # a second settle of the same face is a no-op
    assert ledger.take() == ["1-0"] and ledger.held == 0
    ledger.give_back(["1-0"])
    assert ledger.take() == ["1-0"]


def _walk(tracker, t0, n, x=100.0, p=0.95, emb=None):
    steps = []
    for i in range(n):
        msg = detection("cam", i, t0 + i * 0.2, [((x + 8 * i, 50, x + 40 + 8 * i, 98), p)],
                        embeddings=[emb] if emb is not None else None)
        steps.append(tracker.update(msg.captured_at, sightings(f"{int(t0)}-{i}", msg)))
    return steps


def test_a_fired_step_becomes_one_new_violation_and_an_hour_count():
    tracker = Tracker(EV)
    steps = _walk(tracker, 1000.0, 3)
    ch = changes_of("cam", steps[2])
    (v,) = ch.new
    assert isinstance(v, NewViolation) and v.id == violation_id("cam", "1000-2", 0)
    assert v.sightings == 3 and v.best.p_no_mask == pytest.approx(0.95)
    assert not ch.hours and ch.camera == "cam"  # the store counts the violation, if it creates the row


def test_ended_tracks_extend_their_violation_and_count_people_once():
    tracker = Tracker(EV)
    emb = np.ones(8, np.float32) / np.sqrt(8)
    _walk(tracker, 1000.0, 5, emb=emb)
    first = tracker.tracks[0]
    end = tracker.expire(1003.0)
    ch = changes_of("cam", end)
    assert ch.extend == [Extension(violation_id("cam", first.fired.entry_id, 0), 1000.8, 5)]
    assert ch.hours[hour_of(1000.0), "people"] == 1 and ch.hours[hour_of(1000.0), "sightings"] == 5
    steps = _walk(tracker, 1010.0, 5, x=200.0, emb=emb)  # back, elsewhere: the same violation goes on
    (rejoin,) = [s for s in steps if s.rejoined]
    assert rejoin.rejoined[0].state is State.REJOINED and not any(s.fired for s in steps)
    again = changes_of("cam", rejoin)
    assert [e.violation_id for e in again.extend] == [ch.extend[0].violation_id] and not again.new
    end = changes_of("cam", tracker.expire(1020.0))
    assert end.hours[hour_of(1010.0), "people"] == 0  # the same person: counted once
    assert end.extend[0].sightings == 10 and end.extend[0].last_seen == pytest.approx(1010.8)


def test_hours_are_utc():
    assert hour_of(1000.0 * 3600 + 59) == dt.datetime.fromtimestamp(1000 * 3600, dt.UTC)


@pytest.mark.parametrize("text, configured, error", [
    ("1/2", 2, None),
    ("0/1", 1, None),
    ("2/2", 2, "K must be in 0..1"),
    ("-1/2", 2, "K must be in 0..1"),
    ("1", 2, None),                     # a StatefulSet pod's ordinal: N from the config
    ("2", 2, "K must be in 0..1"),
    ("", 2, "expected K/N or K"),
    ("a/b", 2, "expected K/N"),
    ("0/3", 2, "events.shards = 2"),
])
def test_shard_option(text, configured, error):
    if error is None:
        assert str(Shard.parse(text, configured)) == (text if "/" in text else f"{text}/{configured}")
        return
    with pytest.raises(ConfigError, match=error):
        Shard.parse(text, configured)


def test_every_camera_has_exactly_one_shard_and_it_is_stable():
    cams = [f"cam-{i}" for i in range(200)]
    for n in (1, 2, 3, 8):
        owners = [[k for k in range(n) if Shard(k, n).owns(c)] for c in cams]
        assert all(len(o) == 1 for o in owners)
        counts = np.bincount([o[0] for o in owners], minlength=n)
        assert counts.min() >= 200 / n * 0.6  # spread out, not all on one shard
    assert [shard_of("gate-1", 4)] * 3 == [shard_of("gate-1", 4) for _ in range(3)]


def test_the_dashboard_sums_shards_and_shows_a_silent_one():
    from maskwatch.dashboard.status import _events, _merge_events

    a = _events({"processed": "10", "violations": "2", "bad_entries": "0", "pending": "1", "lag_s": "0.5",
                 "db_ok": "1", "updated_at": "100"})
    b = _events({"processed": "5", "violations": "1", "bad_entries": "1", "pending": "0", "lag_s": "2.5",
                 "db_ok": "0", "updated_at": "90"})
    both = _merge_events([a, b])
    assert (both["processed"], both["violations"], both["lag_s"], both["db_ok"]) == (15, 3, 2.5, False)
    assert (both["shards_reporting"], both["shards"]) == (2, 2)
    one = _merge_events([a, _events({})])
    assert one["present"] and (one["shards_reporting"], one["shards"]) == (1, 2)
    assert _merge_events([_events({}), _events({})])["shards_reporting"] == 0


@pytest.mark.parametrize("captures, watched", [
    ([0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2], {0: 1}),        # 1.2 s of frames at 5 fps: 1 whole second now
    ([0.0, 5.0, 10.0, 15.0], {0: 15}),                     # 0.2 fps: watched between its frames
    ([0.0, 1.0, 2.0, 40.0, 41.0], {0: 3}),                 # 38 s without frames (offline): not watched
    ([3598.0, 3599.0, 3600.5, 3601.5], {0: 1, 3600: 2}),   # each gap in the hour of the frame that ends it
])
def test_a_camera_is_watched_between_its_frames(captures, watched):
    feed = CameraFeed(Tracker(EV))
    t0 = 1_700_000_000.0 - 1_700_000_000.0 % 3600  # on the hour
    for i, t in enumerate(captures):
        feed.push(f"e{i}", detection("cam", i, t0 + t, []), now=100.0)
    list(feed.due(200.0, hold_s=0.5))
    assert feed.take_watched() == {hour_of(t0 + h): s for h, s in watched.items()}
    assert all(0 <= v < 1 for v in feed.watched.values())  # the fractions wait for more


def test_watched_seconds_wait_for_a_minute_unless_their_hour_is_over():
    """The events service writes them a minute's worth at a time (a write a camera a second would be
    too many), and all of an hour that has ended."""
    feed = CameraFeed(Tracker(EV))
    t0 = 1_700_000_000.0 - 1_700_000_000.0 % 3600
    captures = [3590.0 + i for i in range(16)]  # each gap in the hour of the frame ending it: 9 s, then 6 s
    for i, t in enumerate(captures):
        feed.push(f"e{i}", detection("cam", i, t0 + t, []), now=100.0)
    list(feed.due(200.0, hold_s=0.5))
    assert feed.take_watched(60.0) == {hour_of(t0): 9}     # the ended hour goes, the newest waits
    assert feed.take_watched(60.0) == {}
    assert feed.take_watched() == {hour_of(t0 + 3600): 6}  # at the stop: whatever there is
