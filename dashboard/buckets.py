"""Time buckets for the stats charts, in the site's time zone: which bucket a range gets, the
buckets' starts, and axis ticks at round places. Pure functions, table-tested.

Counts are stored per UTC hour; a local bucket sums the UTC hours that start inside it (in a zone
with a half-hour offset an hour bucket is therefore the UTC hour that starts in it).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from maskwatch.storage.queries import BadQuery

UNITS = ("hour", "day", "week")
# the longest range each bucket may draw: about 340 bars at most, still a few pixels each
MAX_SPAN = {"hour": dt.timedelta(days=14), "day": dt.timedelta(days=366), "week": dt.timedelta(days=366 * 3)}
# ...and the longest range each is picked for by default: 24-72 hour bars, up to 92 day bars, then weeks
AUTO_SPAN = {"hour": dt.timedelta(days=3), "day": dt.timedelta(days=92)}
MAX_TICKS = 12
HOUR_STEPS = (1, 2, 3, 6, 12, 24, 48)
DAY_STEPS = (1, 2, 7, 14, 28)
WEEK_STEPS = (1, 2, 4, 8, 13, 26, 52)


def choose(start: dt.datetime, end: dt.datetime, asked: str | None = None) -> str:
    """The bucket for [start, end): the one asked for (if the range is not too long for it), else
    hour up to 3 days, day up to 92 days, week beyond."""
    span = end - start
    if asked is not None:
        if asked not in UNITS:
            raise BadQuery(f"bucket: expected one of {', '.join(UNITS)}")
        if span > MAX_SPAN[asked]:
            raise BadQuery(f"bucket={asked}: the range is longer than {MAX_SPAN[asked].days} days")
        return asked
    return next((u for u, limit in AUTO_SPAN.items() if span <= limit), "week")


def floor(t: dt.datetime, unit: str, zone: dt.tzinfo) -> dt.datetime:
    """The local start of the bucket holding t (weeks start on Monday), as an aware local time."""
    local = t.astimezone(zone)
    if unit == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = dt.datetime(local.year, local.month, local.day, tzinfo=zone)
    return day - dt.timedelta(days=day.weekday()) if unit == "week" else day


def _next(t: dt.datetime, unit: str, zone: dt.tzinfo) -> dt.datetime:
    if unit == "hour":  # in UTC: a local hour that repeats or is skipped (DST) stays one bucket
        return (t.astimezone(dt.UTC) + dt.timedelta(hours=1)).astimezone(zone)
    days = 7 if unit == "week" else 1
    d = t.date() + dt.timedelta(days=days)
    return dt.datetime(d.year, d.month, d.day, tzinfo=zone)


def starts(start: dt.datetime, end: dt.datetime, unit: str, zone: dt.tzinfo) -> list[dt.datetime]:
    """The local starts of every bucket that overlaps [start, end)."""
    out, t = [], floor(start, unit, zone)
    while t < end:
        out.append(t)
        t = _next(t, unit, zone)
    return out


def sum_into(hours: dict[dt.datetime, int], bucket_starts: list[dt.datetime], unit: str,
             zone: dt.tzinfo) -> list[int]:
    """UTC-hour counts summed into the buckets (hours outside every bucket are left out)."""
    index = {b.astimezone(dt.UTC): i for i, b in enumerate(bucket_starts)}
    out = [0] * len(bucket_starts)
    for hour, n in hours.items():
        i = index.get(floor(hour, unit, zone).astimezone(dt.UTC))
        if i is not None:
            out[i] += n
    return out


def _step(n: int, steps: Iterable[int]) -> int:
    steps = tuple(steps)
    return next((s for s in steps if n / s <= MAX_TICKS), steps[-1])


def ticks(bucket_starts: list[dt.datetime], unit: str) -> list[tuple[int, str]]:
    """(bucket index, label) for at most MAX_TICKS round places (every 6 h, midnights, Mondays,
    every 4th week...); an hour tick at midnight names the day."""
    n = len(bucket_starts)
    if unit == "hour":
        k = _step(n, HOUR_STEPS)
        if k >= 24:  # days of hours: on every (k/24)th midnight
            picked = [i for i, t in enumerate(bucket_starts) if t.hour == 0][::k // 24]
        else:
            picked = [i for i, t in enumerate(bucket_starts) if t.hour % k == 0]
        return [(i, bucket_starts[i].strftime("%a %d" if bucket_starts[i].hour == 0 else "%H:00")) for i in picked]
    if unit == "day":
        k = _step(n, DAY_STEPS)
        if k >= 7:  # weeks of days: on Mondays
            mondays = [i for i, t in enumerate(bucket_starts) if t.weekday() == 0]
            picked = mondays[::k // 7]
        else:
            picked = list(range(0, n, k))
        return [(i, bucket_starts[i].strftime("%b %d")) for i in picked]
    k = _step(n, WEEK_STEPS)
    return [(i, bucket_starts[i].strftime("%b %d")) for i in range(0, n, k)]


def describe(t: dt.datetime, unit: str) -> str:
    """A bucket's name in a tooltip: 2025-03-10 14:00, 2025-03-10, week of 2025-03-10."""
    if unit == "hour":
        return t.strftime("%Y-%m-%d %H:00")
    return ("week of " if unit == "week" else "") + t.strftime("%Y-%m-%d")
