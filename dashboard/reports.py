"""The Reports page: the site's report schedule, every report sent (report_runs), and each one's
CSV and PDF again, made from the same numbers (maskwatch.report_files) when asked."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, render_template
from sqlalchemy import select

from maskwatch.dashboard.state import state
from maskwatch.report_files import Period, file_stem, rows, title_of, to_csv, to_pdf
from maskwatch.storage.queries import as_utc
from maskwatch.storage.tables import ReportRun

bp = Blueprint("reports", __name__)
KEEP = 200  # runs listed: a daily report for half a year, and more


@bp.get("/reports")
def page():
    st = state()
    with st.sessions() as s:
        runs = list(s.scalars(select(ReportRun).order_by(ReportRun.period_start.desc(), ReportRun.name).limit(KEEP)))
        s.expunge_all()
    schedule = {r.name: r for r in st.config.reports.schedule}
    sinks = [s.name for s in st.config.alerts.sinks if "report" in s.kinds]
    views = []
    for run in runs:
        report = schedule.get(run.name)
        start = as_utc(run.period_start)
        period = Period.of(start, report.every, st.config.zone) if report else None
        views.append({"run": run, "period": period, "files": report is not None, "start": int(start.timestamp())})
    return render_template("reports.html", schedule=list(schedule.values()), sinks=sinks, runs=views)


@bp.get("/reports/<name>/<int:start>.<any(csv, pdf):kind>")
def download(name: str, start: int, kind: str):
    """A sent report's file again; `start`: its period's start, epoch seconds (the page's links)."""
    st = state()
    report = next((r for r in st.config.reports.schedule if r.name == name), None)
    if report is None or not 0 <= start < 2 ** 37:
        abort(404, "no such report")
    begin = dt.datetime.fromtimestamp(start, dt.UTC)
    with st.sessions() as s:
        if s.get(ReportRun, (name, begin)) is None:
            abort(404, "that period's report was not sent")
        period = Period.of(begin, report.every, st.config.zone)
        table = rows(s, report.cameras, period, {c.id: c.label for c in st.config.cameras})
    body, mimetype = (to_csv(table), "text/csv") if kind == "csv" else \
        (to_pdf(title_of(st.config.site, period), table), "application/pdf")
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{file_stem(name, period)}.{kind}"', "Cache-Control": "no-store"})
