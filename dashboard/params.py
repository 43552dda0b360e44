"""Query parameters to typed filters. Every bad value raises BadQuery (HTTP 400), never a 500.

Empty values mean "no filter", because HTML forms submit empty fields.
"""
from __future__ import annotations

import datetime as dt
import enum
import math
import re
from collections.abc import Mapping

from maskwatch.config import CAMERA_ID
from maskwatch.storage.queries import BadQuery, Cursor, Sort, ViolationFilter
from maskwatch.storage.tables import ReviewStatus, Verdict

FILTER_KEYS = ("camera", "from", "to", "status", "verdict", "min_conf", "sort")
_CAMERA = re.compile(CAMERA_ID)
MAX_RANGE_DAYS = 366
# the dates a violation can have: wide enough for any site, narrow enough that a range's end plus
# a day, an hour step or a week bucket can never leave the calendar (year 9999 overflows)
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


def _get(args: Mapping[str, str], key: str) -> str | None:
    value = (args.get(key) or "").strip()
    return value or None


def parse_time(value: str | None, name: str, *, end: bool = False, zone: dt.tzinfo = dt.UTC) -> dt.datetime | None:
    """An ISO date or date-time, in UTC; in the site's zone unless it carries an offset. A bare
    date as an end means the end of that day, so `to=2025-01-31` includes the 31st."""
    if value is None:
        return None
    try:
        if len(value) > 40:
            raise ValueError
        if len(value) == 10:
            day = dt.date.fromisoformat(value) + dt.timedelta(days=1 if end else 0)
            when = dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(dt.UTC)
        else:
            when = dt.datetime.fromisoformat(value)
            when = (when.replace(tzinfo=zone) if when.tzinfo is None else when).astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise BadQuery(f"{name}: expected a date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM)") from None
    if not EARLIEST <= when <= LATEST:
        raise BadQuery(f"{name}: expected a date from {EARLIEST.year} to {LATEST.year - 1}")
    return when


def parse_choice(value: str | None, name: str, choices: type[enum.Enum]):
    """One of an enum's values, or None; BadQuery names the parameter and what it may be."""
    if value is None:
        return None
    try:
        return choices(value)
    except ValueError:
        raise BadQuery(f"{name}: expected one of {', '.join(c.value for c in choices)}") from None


def parse_status(value: str | None, name: str = "status") -> ReviewStatus | None:
    return parse_choice(value, name, ReviewStatus)


def parse_float(value: str | None, name: str, lo: float, hi: float) -> float | None:
    if value is None:
        return None
    try:
        x = float(value)
    except ValueError:
        x = math.nan
    if not (lo <= x <= hi):  # also refuses nan and inf
        raise BadQuery(f"{name}: expected a number from {lo:g} to {hi:g}")
    return x


def parse_int(value: str | None, name: str, lo: int, hi: int, default: int) -> int:
    if value is None:
        return default
    if not re.fullmatch(r"\d{1,6}", value) or not (lo <= int(value) <= hi):
        raise BadQuery(f"{name}: expected a whole number from {lo} to {hi}")
    return int(value)


def parse_camera(value: str | None) -> str | None:
    # any well-formed id: cameras removed from the config still have violations to browse
    if value is not None and not _CAMERA.match(value):
        raise BadQuery("camera: not a camera id")
    return value


def parse_filter(args: Mapping[str, str], zone: dt.tzinfo = dt.UTC) -> ViolationFilter:
    flt = ViolationFilter(
        camera=parse_camera(_get(args, "camera")),
        start=parse_time(_get(args, "from"), "from", zone=zone),
        end=parse_time(_get(args, "to"), "to", end=True, zone=zone),
        status=parse_status(_get(args, "status")),
        verdict=parse_choice(_get(args, "verdict"), "verdict", Verdict),
        min_conf=parse_float(_get(args, "min_conf"), "min_conf", 0.0, 1.0))
    if flt.start and flt.end and flt.start >= flt.end:
        raise BadQuery("from: must be before to")
    return flt


def parse_sort(args: Mapping[str, str]) -> Sort:
    return Sort.parse(_get(args, "sort"))


def filter_args(args: Mapping[str, str]) -> dict[str, str]:
    """The filter (and sort) parameters of a request (already validated), for links that keep them."""
    return {k: v for k in FILTER_KEYS if (v := _get(args, k)) is not None}


def parse_cursor(args: Mapping[str, str], key: str) -> Cursor | None:
    value = _get(args, key)
    return Cursor.decode(value) if value is not None else None


def parse_cursors(args: Mapping[str, str]) -> tuple[Cursor | None, Cursor | None]:
    before, after = parse_cursor(args, "before"), parse_cursor(args, "after")
    if before and after:
        raise BadQuery("give either before or after, not both")
    return before, after


def local_midnight(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    """The start of `day` in the site's zone, in UTC."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(dt.UTC)


def default_range(now: dt.datetime | None = None, days: int = 7,
                  zone: dt.tzinfo = dt.UTC) -> tuple[dt.datetime, dt.datetime]:
    """The last `days` whole days of the site's zone, today included (in UTC)."""
    today = (now or dt.datetime.now(dt.UTC)).astimezone(zone).date()
    return local_midnight(today - dt.timedelta(days=days - 1), zone), local_midnight(today + dt.timedelta(days=1), zone)


def parse_range(args: Mapping[str, str], now: dt.datetime | None = None,
                zone: dt.tzinfo = dt.UTC) -> tuple[dt.datetime, dt.datetime]:
    d_start, d_end = default_range(now, zone=zone)
    start = parse_time(_get(args, "from"), "from", zone=zone) or None
    end = parse_time(_get(args, "to"), "to", end=True, zone=zone) or None
    if start is None and end is None:
        return d_start, d_end
    try:
        if start is None:
            start = end - (d_end - d_start)
        if end is None:
            end = start + (d_end - d_start)
    except OverflowError:
        raise BadQuery("from/to: too close to the ends of the calendar") from None
    if start >= end:
        raise BadQuery("from: must be before to")
    if end - start > dt.timedelta(days=MAX_RANGE_DAYS):
        raise BadQuery(f"the range is longer than {MAX_RANGE_DAYS} days")
    return start, end
