"""Mask policies: where (named zones of a camera) and when (schedules, in the site's time zone) a
mask is required. A face outside them is tracked but can never be a violation, and the stats'
compliance counts only people seen under a policy. Config models and pure evaluation."""
from __future__ import annotations

import datetime as dt
import re

from pydantic import ConfigDict, Field, field_validator, model_validator

from maskwatch.strict import Strict

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
NAME = r"^[a-z0-9][a-z0-9_-]{0,31}$"


class Window(Strict):
    """Days and a time of day: `to` before `from` runs past midnight (22:00-06:00)."""
    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=True, populate_by_name=True)
    days: list[str] = Field(default_factory=lambda: list(DAYS[:5]), description="mon ... sun")
    start: str = Field(alias="from", description="HH:MM, the site's time")
    end: str = Field(alias="to", description="HH:MM (24:00 is the end of the day)")

    @field_validator("days")
    @classmethod
    def _days(cls, v: list[str]) -> list[str]:
        bad = [d for d in v if d not in DAYS]
        if bad or not v:
            raise ValueError(f"days are some of {', '.join(DAYS)}; got {bad or 'none'}")
        return v

    @field_validator("start", "end")
    @classmethod
    def _time(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError(f"{v!r} is not a time HH:MM")
        return v

    def _minutes(self, hhmm: str) -> int:
        h, m = hhmm.split(":")
        return int(h) * 60 + int(m)

    def contains(self, local: dt.datetime) -> bool:
        start, end = self._minutes(self.start), self._minutes(self.end)
        now = local.hour * 60 + local.minute
        day = DAYS[local.weekday()]
        if start < end:
            return day in self.days and start <= now < end
        # overnight: the evening part belongs to its day, the morning part to the day before
        yesterday = DAYS[(local.weekday() - 1) % 7]
        return (day in self.days and now >= start) or (yesterday in self.days and now < end)


class Zone(Strict):
    name: str = Field(pattern=NAME)
    polygon: list[tuple[float, float]] = Field(description="(x, y) in 0..1 of the frame, at least 3 points")

    @field_validator("polygon")
    @classmethod
    def _poly(cls, v):
        if len(v) < 3 or any(not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0) for x, y in v):
            raise ValueError("a zone is at least 3 points (x, y), each from 0 to 1")
        return v

    def contains(self, x: float, y: float) -> bool:
        """Even-odd ray casting; (x, y) in 0..1 of the frame."""
        inside, pts = False, self.polygon
        for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1]):
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
                inside = not inside
        return inside


class CameraPolicy(Strict):
    """Where and when this camera requires a mask. No zones: the whole picture; no schedule: always."""
    zones: list[Zone] = Field(default_factory=list)
    schedule: str | None = Field(None, description="a name from the top-level `schedules`")

    @model_validator(mode="after")
    def _unique(self):
        names = [z.name for z in self.zones]
        if len(set(names)) != len(names):
            raise ValueError("zone names must be unique per camera")
        return self


def required(policy: CameraPolicy | None, schedules: dict[str, list[Window]], zone: dt.tzinfo,
             box: tuple[float, float, float, float], width: int, height: int, captured_at: float) -> bool:
    """Whether a face (its box's centre) seen at captured_at is under this camera's policy."""
    if policy is None:
        return True
    if policy.zones:
        cx, cy = (box[0] + box[2]) / 2 / max(width, 1), (box[1] + box[3]) / 2 / max(height, 1)
        if not any(z.contains(cx, cy) for z in policy.zones):
            return False
    if policy.schedule is not None:
        local = dt.datetime.fromtimestamp(captured_at, zone)
        return any(w.contains(local) for w in schedules.get(policy.schedule, []))
    return True
