"""The site's time zone and the stats buckets: pure functions, as tables."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from maskwatch.dashboard import buckets
from maskwatch.dashboard.app import confidence
from maskwatch.dashboard.charts import nice_max
from maskwatch.dashboard.params import default_range, parse_time
from maskwatch.storage.queries import BadQuery

UTC = dt.UTC
PARIS = ZoneInfo("Europe/Paris")
KOLKATA = ZoneInfo("Asia/Kolkata")


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("value", "end", "zone", "expected"), [
    ("2025-03-10", False, UTC, utc(2025, 3, 10)),
    ("2025-03-10", True, UTC, utc(2025, 3, 11)),
    ("2025-03-10", False, PARIS, utc(2025, 3, 9, 23)),            # Paris midnight is 23:00 UTC in winter
    ("2025-07-10", True, PARIS, utc(2025, 7, 10, 22)),            # ... and 22:00 UTC in summer
    ("2025-03-10 08:30", False, PARIS, utc(2025, 3, 10, 7, 30)),  # as the filter form shows it: the site's time
    ("2025-03-10T08:30", False, PARIS, utc(2025, 3, 10, 7, 30)),
    ("2025-03-10T08:30+00:00", False, PARIS, utc(2025, 3, 10, 8, 30)),  # an offset wins
    ("2025-03-10T08:00", False, KOLKATA, utc(2025, 3, 10, 2, 30)),
])
def test_times_without_an_offset_are_the_sites(value, end, zone, expected):
    assert parse_time(value, "from", end=end, zone=zone) == expected


def test_the_default_range_is_the_last_seven_local_days():
    now = utc(2025, 3, 10, 23, 30)   # already the 11th in Paris
    assert default_range(now, zone=PARIS) == (utc(2025, 3, 4, 23), utc(2025, 3, 11, 23))
    assert default_range(now) == (utc(2025, 3, 4), utc(2025, 3, 11))


@pytest.mark.parametrize(("days", "asked", "unit"), [
    (1, None, "hour"), (3, None, "hour"), (4, None, "day"), (7, None, "day"), (92, None, "day"),
    (93, None, "week"), (366, None, "week"), (7, "hour", "hour"), (14, "hour", "hour"), (30, "week", "week"),
])
def test_the_bucket_follows_the_range(days, asked, unit):
    start = utc(2025, 1, 1)
    assert buckets.choose(start, start + dt.timedelta(days=days), asked) == unit


@pytest.mark.parametrize(("days", "asked", "error"), [
    (15, "hour", "bucket=hour: the range is longer than 14 days"),
    (7, "minute", "bucket: expected one of hour, day, week"),
])
def test_a_bucket_that_cannot_draw_the_range_is_refused(days, asked, error):
    with pytest.raises(BadQuery, match=error):
        buckets.choose(utc(2025, 1, 1), utc(2025, 1, 1) + dt.timedelta(days=days), asked)


@pytest.mark.parametrize(("start", "end", "unit", "zone", "count", "first", "last"), [
    (utc(2025, 3, 10), utc(2025, 3, 11), "hour", UTC, 24, "2025-03-10T00:00:00+00:00", "2025-03-10T23:00:00+00:00"),
    (utc(2025, 3, 4), utc(2025, 3, 11), "day", UTC, 7, "2025-03-04T00:00:00+00:00", "2025-03-10T00:00:00+00:00"),
    # weeks start on Monday: 2025-03-04 is a Tuesday
    (utc(2025, 3, 4), utc(2025, 3, 25), "week", UTC, 4, "2025-03-03T00:00:00+00:00", "2025-03-24T00:00:00+00:00"),
    # the spring-forward day in Paris has 23 local hours, and its days start at local midnight
    (utc(2025, 3, 29, 23), utc(2025, 3, 30, 22), "hour", PARIS, 23, "2025-03-30T00:00:00+01:00",
     "2025-03-30T23:00:00+02:00"),
    (utc(2025, 3, 28, 23), utc(2025, 3, 30, 22), "day", PARIS, 2, "2025-03-29T00:00:00+01:00",
     "2025-03-30T00:00:00+01:00"),
])
def test_bucket_starts_are_local(start, end, unit, zone, count, first, last):
    got = buckets.starts(start, end, unit, zone)
    assert (len(got), got[0].isoformat(), got[-1].isoformat()) == (count, first, last)


def test_utc_hours_sum_into_local_days():
    starts = buckets.starts(utc(2025, 3, 9, 23), utc(2025, 3, 11, 23), "day", PARIS)
    hours = {utc(2025, 3, 9, 22): 5, utc(2025, 3, 9, 23): 1, utc(2025, 3, 10, 22): 2, utc(2025, 3, 10, 23): 3}
    # 22:00 UTC on the 9th is still the 9th in Paris (outside); 22:00 on the 10th is the 10th's last hour
    assert buckets.sum_into(hours, starts, "day", PARIS) == [1 + 2, 3]


@pytest.mark.parametrize(("days", "unit", "labels"), [
    (1, "hour", ["Mon 10", "02:00", "04:00", "06:00", "08:00", "10:00", "12:00", "14:00", "16:00", "18:00",
                 "20:00", "22:00"]),
    (3, "hour", ["Mon 10", "06:00", "12:00", "18:00", "Tue 11", "06:00", "12:00", "18:00", "Wed 12", "06:00",
                 "12:00", "18:00"]),
    (7, "day", ["Mar 10", "Mar 11", "Mar 12", "Mar 13", "Mar 14", "Mar 15", "Mar 16"]),
    (14, "hour", ["Mon 10", "Wed 12", "Fri 14", "Sun 16", "Tue 18", "Thu 20", "Sat 22"]),
    (60, "day", ["Mar 10", "Mar 17", "Mar 24", "Mar 31", "Apr 07", "Apr 14", "Apr 21", "Apr 28", "May 05"]),
])
def test_ticks_sit_at_round_places_and_never_crowd(days, unit, labels):
    start = utc(2025, 3, 10)   # a Monday
    got = buckets.ticks(buckets.starts(start, start + dt.timedelta(days=days), unit, UTC), unit)
    assert len(got) <= buckets.MAX_TICKS
    assert [text for _, text in got][:len(labels)] == labels


@pytest.mark.parametrize(("p", "shown"), [
    (0.5, "0.500"), (0.912, "0.912"), (0.9949, "0.995"), (0.995, "0.9950"), (0.99873, "0.9987"),
    (0.99994, "0.9999"), (0.99995, "> 0.9999"), (1.0, "> 0.9999"),
])
def test_confidence_shows_what_tells_sure_from_doubtful(p, shown):
    assert confidence(p) == shown


@pytest.mark.parametrize(("value", "top"), [(0, 4), (3, 4), (5, 8), (7, 8), (9, 12), (17, 20), (33, 40),
                                            (100, 100), (130, 200), (1001, 2000)])
def test_count_axes_have_four_whole_round_steps(value, top):
    assert nice_max(value) == top and (top / 4).is_integer()
