"""Scheduled compliance reports by e-mail (reports.schedule, through reports.smtp).

Each report covers a whole period of the site's time zone (a day, or a week from Monday) and is
sent the day after it ends, at `at`: per camera the people judged, the violations, the compliance
rate, the people not judged and how much of the period the camera was watched (so that an offline
camera's "perfect" week shows as such), as CSV and PDF attachments. Sent at least once: the
report_runs row is written after the SMTP server accepted the message, so an outage delays a
report and loses none (a crash between the two sends it again, once).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from maskwatch.reports_config import ReportConfig, SmtpConfig
from maskwatch.storage.queries import compliance
from maskwatch.storage.tables import ReportRun

log = logging.getLogger(__name__)
HEADER = ["camera", "name", "people judged", "violations", "compliance", "not judged", "watched"]


class ReportError(Exception):
    """A report the SMTP server did not take; the text names the server's answer, never a password."""


@dataclass(frozen=True)
class Period:
    start: dt.datetime  # aware, the site's zone
    end: dt.datetime

    @property
    def label(self) -> str:
        last = (self.end - dt.timedelta(days=1)).date()
        return self.start.date().isoformat() if last == self.start.date() else \
            f"{self.start.date().isoformat()} to {last.isoformat()}"


def due_period(report: ReportConfig, now: dt.datetime, zone: ZoneInfo) -> Period | None:
    """The latest whole period whose report is due by `now` (None before the first is)."""
    local = now.astimezone(zone)
    hour, minute = (int(v) for v in report.at.split(":"))
    today = local.date()
    if report.every == "day":
        end_day = today
    else:
        end_day = today - dt.timedelta(days=today.weekday())  # this week's Monday ends last week
    send_at = dt.datetime.combine(end_day, dt.time(hour, minute), zone)
    if local < send_at:
        end_day -= dt.timedelta(days=1 if report.every == "day" else 7)
    start_day = end_day - dt.timedelta(days=1 if report.every == "day" else 7)
    return Period(dt.datetime.combine(start_day, dt.time(), zone), dt.datetime.combine(end_day, dt.time(), zone))


def rows(session: Session, report: ReportConfig, period: Period, labels: dict[str, str]) -> list[list]:
    seconds = (period.end - period.start).total_seconds()
    by_cam = {c.camera_id: c for c in compliance(session, period.start, period.end)}
    cams = report.cameras or list(labels)
    out = []
    for cam in cams:
        c = by_cam.get(cam)
        rate = c.rate if c else None
        out.append([cam, labels.get(cam, cam), c.people if c else 0, c.violations if c else 0,
                    "-" if rate is None else f"{rate:.1%}", c.not_judged if c else 0,
                    f"{min(1.0, c.watched_s / seconds):.0%}" if c and c.watched_s else "not recorded"])
    return out


def to_csv(table: list[list]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(HEADER)
    writer.writerows(table)
    return buf.getvalue().encode()


def to_pdf(title: str, table: list[list]) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(orientation="landscape")
    pdf.add_page()
    pdf.set_font("helvetica", "B", 14)
    pdf.cell(0, 10, title.encode("latin-1", "replace").decode("latin-1"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", size=9)
    with pdf.table(col_widths=(30, 60, 30, 25, 25, 25, 30), text_align="LEFT") as t:
        for line in [HEADER, *table]:
            row = t.row()
            for value in line:
                row.cell(str(value).encode("latin-1", "replace").decode("latin-1"))
    return bytes(pdf.output())


def message(site: str, report: ReportConfig, period: Period, table: list[list], sender: str) -> EmailMessage:
    msg = EmailMessage()
    title = f"{site}: mask compliance, {period.label}"
    msg["Subject"], msg["From"], msg["To"] = title, sender, ", ".join(report.to)
    lines = [f"{r[1]}: {r[4]} of {r[2]} people judged, {r[3]} violations, watched {r[6]}" for r in table]
    msg.set_content(f"{title}\n\n" + "\n".join(lines) + "\n\nCompliance counts people the cameras saw well enough "
                    "to judge, while they were watched.\n")
    stem = f"maskwatch-{report.name}-{period.start.date().isoformat()}"
    if "csv" in report.attach:
        msg.add_attachment(to_csv(table), maintype="text", subtype="csv", filename=f"{stem}.csv")
    if "pdf" in report.attach:
        msg.add_attachment(to_pdf(title, table), maintype="application", subtype="pdf", filename=f"{stem}.pdf")
    return msg


def send(smtp: SmtpConfig, msg: EmailMessage) -> None:
    try:
        if smtp.security == "tls":
            server = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout_s,
                                      context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
        with server:
            if smtp.security == "starttls":
                server.starttls(context=ssl.create_default_context())
            if smtp.username:
                server.login(smtp.username, smtp.password or "")
            server.send_message(msg)
    except (smtplib.SMTPException, OSError) as e:
        raise ReportError(f"{type(e).__name__}: {getattr(e, 'smtp_code', '')} {getattr(e, 'strerror', '') or ''}"
                          .strip()) from None


def run_due(sessions, cfg, now: dt.datetime) -> int:
    """Send every report whose period is due and not sent yet; the number sent."""
    sent = 0
    labels = {c.id: c.label for c in cfg.cameras}
    for report in cfg.reports.schedule:
        period = due_period(report, now, cfg.zone)
        with sessions() as s:
            if s.get(ReportRun, (report.name, period.start.astimezone(dt.UTC))) is not None:
                continue
            table = rows(s, report, period, labels)
        msg = message(cfg.site, report, period, table, cfg.reports.smtp.sender)
        try:
            send(cfg.reports.smtp, msg)
        except ReportError as e:
            log.warning("reports: %s for %s not sent (%s); trying again in a minute", report.name, period.label, e)
            continue
        with sessions.begin() as s:
            s.merge(ReportRun(name=report.name, period_start=period.start.astimezone(dt.UTC), sent_at=now,
                              recipients=len(report.to)))
        log.info("reports: %s for %s sent to %d recipients", report.name, period.label, len(report.to))
        sent += 1
    return sent
