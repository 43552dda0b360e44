"""Statistics: violations per hour and per day per camera, and compliance per camera.

Violation counts come from the violations table and leave out rows reviewed as false positives;
compliance (1 - violations / people) comes from the events service's camera_hours counters,
as counted at detection time. The page and /api/stats share build_stats.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Blueprint, render_template, request
from sqlalchemy.orm import Session

from dashboard.charts import Series, color, compliance_bars, legend, rate_class, stacked_bars
from dashboard.params import parse_range
from dashboard.state import State, state
from maskwatch.storage.queries import Compliance, compliance, daily_counts, hourly_counts

bp = Blueprint("stats", __name__)
MAX_HOURLY_DAYS = 14


@dataclass
class StatsData:
    start: dt.datetime
    end: dt.datetime
    cameras: list[str]
    labels: dict[str, str]
    hours: list[dt.datetime]          # empty when the range is too long for an hourly chart
    hourly: dict[str, list[int]]
    days: list[dt.date]
    daily: dict[str, list[int]]
    totals: dict[str, int]
    compliance: list[Compliance]

    def as_json(self) -> dict:
        comp = {c.camera_id: c for c in self.compliance}
        cams = []
        for cam in self.cameras:
            c = comp.get(cam)
            cams.append({
                "camera_id": cam, "name": self.labels.get(cam, cam), "violations": self.totals.get(cam, 0),
                "people": c.people if c else 0, "counted_violations": c.violations if c else 0,
                "compliance": c.rate if c else None,
                "daily": self.daily.get(cam, []), "hourly": self.hourly.get(cam, []) if self.hours else None})
        return {"from": self.start.isoformat(), "to": self.end.isoformat(),
                "days": [d.isoformat() for d in self.days],
                "hours": [h.isoformat() for h in self.hours] if self.hours else None, "cameras": cams}


def _steps(start: dt.datetime, end: dt.datetime, step: dt.timedelta) -> list[dt.datetime]:
    out, t = [], start
    while t < end:
        out.append(t)
        t += step
    return out


def build_stats(session: Session, st: State, start: dt.datetime, end: dt.datetime) -> StatsData:
    hourly_raw = hourly_counts(session, start, end)
    daily_raw = daily_counts(hourly_raw)
    comp = compliance(session, start, end)
    known = st.camera_ids
    cameras = known + sorted((set(hourly_raw) | {c.camera_id for c in comp}) - set(known))
    first_hour = start.replace(minute=0, second=0, microsecond=0)
    hours = _steps(first_hour, end, dt.timedelta(hours=1)) if end - start <= dt.timedelta(days=MAX_HOURLY_DAYS) else []
    days = [t.date() for t in _steps(dt.datetime.combine(start.date(), dt.time(), dt.UTC), end, dt.timedelta(days=1))]
    return StatsData(
        start=start, end=end, cameras=cameras, labels={c: st.camera_label(c) for c in cameras},
        hours=hours, hourly={c: [hourly_raw.get(c, {}).get(h, 0) for h in hours] for c in cameras},
        days=days, daily={c: [daily_raw.get(c, {}).get(d, 0) for d in days] for c in cameras},
        totals={c: sum(hourly_raw.get(c, {}).values()) for c in cameras}, compliance=comp)


def _charts(data: StatsData) -> dict:
    series_h = [Series(data.labels[c], color(i), data.hourly[c]) for i, c in enumerate(data.cameras)]
    series_d = [Series(data.labels[c], color(i), data.daily[c]) for i, c in enumerate(data.cameras)]
    out = {"legend": legend(series_d), "hourly": None}
    if data.hours:
        labels = [h.strftime("%Y-%m-%d %H:00") for h in data.hours]
        ticks = [h.strftime("%d %H:00") if h.hour else h.strftime("%b %d") for h in data.hours]
        out["hourly"] = stacked_bars(labels, series_h, title="violations per hour", tick_labels=ticks,
                                     tick_every=max(1, len(labels) // 12))
    day_labels = [d.isoformat() for d in data.days]
    out["daily"] = stacked_bars(day_labels, series_d, title="violations per day",
                                tick_labels=[d.strftime("%b %d") for d in data.days],
                                tick_every=max(1, len(day_labels) // 14))
    rows = [(data.labels.get(c.camera_id, c.camera_id), c.rate, f"{c.violations} of {c.people} people")
            for c in data.compliance]
    out["compliance"] = compliance_bars(rows)
    return out


@bp.get("/stats")
def page():
    st = state()
    start, end = parse_range(request.args)
    with st.sessions() as s:
        data = build_stats(s, st, start, end)
    return render_template("stats.html", data=data, charts=_charts(data), max_hourly_days=MAX_HOURLY_DAYS,
                           comp={c.camera_id: c for c in data.compliance}, rate_class=rate_class,
                           form_from=start.date().isoformat(),
                           form_to=(end - dt.timedelta(microseconds=1)).date().isoformat())
