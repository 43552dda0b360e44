"""Statistics: violations per hour, day or week per camera, and compliance per camera.

Violation counts come from the violations table and leave out rows reviewed as false positives;
compliance (1 - violations / people) comes from the events service's camera_hours counters,
as counted at detection time. Buckets are the site's local hours, days (and Monday weeks),
picked from the range unless ?bucket= asks. The page and /api/stats share build_stats.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Blueprint, render_template, request
from sqlalchemy.orm import Session

from maskwatch.dashboard import buckets
from maskwatch.dashboard.charts import Series, color, compliance_bars, legend, rate_class, rate_legend, stacked_bars
from maskwatch.dashboard.params import parse_range
from maskwatch.dashboard.state import State, state
from maskwatch.storage.queries import Compliance, compliance, hourly_counts, verdict_counts

bp = Blueprint("stats", __name__)


@dataclass
class StatsData:
    start: dt.datetime
    end: dt.datetime
    zone: dt.tzinfo
    cameras: list[str]
    labels: dict[str, str]
    unit: str                            # the chart's bucket: hour, day or week
    starts: list[dt.datetime]            # the buckets' local starts
    counts: dict[str, list[int]]         # per camera, per bucket
    days: list[dt.datetime]              # local days, for the JSON's daily series
    daily: dict[str, list[int]]
    hours: list[dt.datetime]             # empty when the range is too long for hours
    hourly: dict[str, list[int]]
    totals: dict[str, int]
    compliance: list[Compliance]
    by_verdict: dict[str, dict[str, int]]  # per camera: no_mask / mask_incorrect

    def coverage(self, c: Compliance | None) -> float | None:
        """The share of the range (up to now) the camera was watched; None without a record of it."""
        if c is None or not c.watched_s:
            return None
        now = dt.datetime.now(dt.UTC)
        span = (min(self.end, now) - self.start).total_seconds()
        return min(1.0, c.watched_s / span) if span > 0 else None

    def verdicts_of(self, cam: str) -> dict[str, int]:
        return self.by_verdict.get(cam) or {"no_mask": 0, "mask_incorrect": 0}

    def as_json(self) -> dict:
        comp = {c.camera_id: c for c in self.compliance}
        cams = []
        for cam in self.cameras:
            c = comp.get(cam)
            cams.append({
                "camera_id": cam, "name": self.labels.get(cam, cam), "violations": self.totals.get(cam, 0),
                "people": c.people if c else 0, "counted_violations": c.violations if c else 0,
                "not_judged": c.not_judged if c else 0, "still_faces": c.still if c else 0,
                "watched_s": c.watched_s if c else 0, "coverage": self.coverage(c),
                "compliance": c.rate if c else None, "counts": self.counts.get(cam, []),
                "by_verdict": self.verdicts_of(cam),
                "daily": self.daily.get(cam, []), "hourly": self.hourly.get(cam, []) if self.hours else None})
        return {"from": self.start.isoformat(), "to": self.end.isoformat(), "timezone": str(self.zone),
                "bucket": self.unit, "buckets": [b.isoformat() for b in self.starts],
                "days": [d.date().isoformat() for d in self.days],
                "hours": [h.isoformat() for h in self.hours] if self.hours else None, "cameras": cams}


def _series(hourly_raw: dict, cameras: list[str], starts: list[dt.datetime], unit: str, zone) -> dict[str, list[int]]:
    return {c: buckets.sum_into(hourly_raw.get(c, {}), starts, unit, zone) for c in cameras}


def build_stats(session: Session, st: State, start: dt.datetime, end: dt.datetime,
                bucket: str | None = None) -> StatsData:
    zone = st.config.zone
    unit = buckets.choose(start, end, bucket)
    hourly_raw = hourly_counts(session, start, end)
    comp = compliance(session, start, end)
    known = st.camera_ids
    cameras = known + sorted((set(hourly_raw) | {c.camera_id for c in comp}) - set(known))
    starts = buckets.starts(start, end, unit, zone)
    days = buckets.starts(start, end, "day", zone)
    hours = buckets.starts(start, end, "hour", zone) if end - start <= buckets.MAX_SPAN["hour"] else []
    return StatsData(
        start=start, end=end, zone=zone, cameras=cameras, labels={c: st.camera_label(c) for c in cameras},
        unit=unit, starts=starts, counts=_series(hourly_raw, cameras, starts, unit, zone),
        days=days, daily=_series(hourly_raw, cameras, days, "day", zone),
        hours=hours, hourly=_series(hourly_raw, cameras, hours, "hour", zone),
        totals={c: sum(hourly_raw.get(c, {}).values()) for c in cameras}, compliance=comp,
        by_verdict=verdict_counts(session, start, end))


def _charts(data: StatsData, target: float) -> dict:
    series = [Series(data.labels[c], color(i), data.counts[c]) for i, c in enumerate(data.cameras)]
    labels = [buckets.describe(t, data.unit) for t in data.starts]
    order = {cam: i for i, cam in enumerate(data.cameras)}  # the config's order, as everywhere else
    rows = [(data.labels.get(c.camera_id, c.camera_id), c.rate,
             f"{c.violations} of {c.people} people" + (f", {c.not_judged} not judged" if c.not_judged else "")
             + (f", watched {cov:.0%} of the time" if (cov := data.coverage(c)) is not None else ""))
            for c in sorted(data.compliance, key=lambda c: order.get(c.camera_id, len(order)))]
    return {"legend": legend(series), "rate_legend": rate_legend(target),
            "time": stacked_bars(labels, series, title=f"violations per {data.unit}",
                                 ticks=buckets.ticks(data.starts, data.unit), unit=data.unit),
            "compliance": compliance_bars(rows, target)}


def _local_input(t: dt.datetime, zone) -> str:
    return t.astimezone(zone).strftime("%Y-%m-%d %H:%M")


@bp.get("/stats")
def page():
    st = state()
    zone, target = st.config.zone, st.config.dashboard.compliance_target
    start, end = parse_range(request.args, zone=zone)
    asked = (request.args.get("bucket") or "").strip() or None
    with st.sessions() as s:
        data = build_stats(s, st, start, end, asked)
    form_from = start.astimezone(zone).date().isoformat()
    form_to = (end - dt.timedelta(microseconds=1)).astimezone(zone).date().isoformat()
    usable = [u for u in buckets.UNITS if end - start <= buckets.MAX_SPAN[u]]
    return render_template("stats.html", data=data, charts=_charts(data, target), units=usable, asked=asked,
                           comp={c.camera_id: c for c in data.compliance}, target=target,
                           rate_class=lambda r: rate_class(r, target), form_from=form_from, form_to=form_to,
                           list_from=_local_input(start, zone), list_to=_local_input(end, zone))
