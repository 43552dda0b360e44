"""Scheduled compliance reports (reports.schedule): by e-mail through reports.smtp, and to the
alert sinks that take reports.

Each report covers a whole period of the site's time zone (a day, or a week from Monday) and is
sent the day after it ends, at `at`: per camera the people judged, the violations, the compliance
rate, the people not judged and how much of the period the camera was watched (so that an offline
camera's "perfect" week shows as such), as CSV and PDF attachments. Sent at least once: the
report_runs row is written after the SMTP server accepted the message, so an outage delays a
report and loses none (a crash between the two sends it again, once).
"""
from __future__ import annotations

import datetime as dt
import logging
import smtplib
import ssl
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from maskwatch.report_files import Period, file_stem, rows, title_of, to_csv, to_pdf
from maskwatch.reports_config import ReportConfig, SmtpConfig
from maskwatch.storage.tables import ReportRun
from maskwatch.wire import alert

log = logging.getLogger(__name__)


class ReportError(Exception):
    """A report the SMTP server did not take; the text names the server's answer, never a password."""


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


def message(site: str, report: ReportConfig, period: Period, table: list[list], sender: str) -> EmailMessage:
    msg = EmailMessage()
    title = title_of(site, period)
    msg["Subject"], msg["From"], msg["To"] = title, sender, ", ".join(report.to)
    lines = [f"{r[1]}: {r[4]} of {r[2]} people judged, {r[3]} violations, watched {r[6]}" for r in table]
    msg.set_content(f"{title}\n\n" + "\n".join(lines) + "\n\nCompliance counts people the cameras saw well enough "
                    "to judge, while they were watched.\n")
    stem = file_stem(report.name, period)
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


def _payload(site: str, report: ReportConfig, period: Period, table: list[list]) -> dict:
    return alert.report(site=site, name=report.name, period_start=period.start, period_end=period.end,
                        label=period.label, table=table,
                        csv_text=to_csv(table).decode() if "csv" in report.attach else None,
                        pdf=to_pdf(title_of(site, period), table) if "pdf" in report.attach else None)


def run_due(sessions, cfg, now: dt.datetime, writer=None) -> int:
    """Send every report whose period is due and not sent yet: by e-mail to its `to`, and to the
    alert sinks that take reports (`writer`'s outbox rows, written with the report_runs row, so
    the sinks get it exactly once however often the e-mail had to be tried); the number sent."""
    sent = 0
    labels = {c.id: c.label for c in cfg.cameras}
    for report in cfg.reports.schedule:
        period = due_period(report, now, cfg.zone)
        with sessions() as s:
            if s.get(ReportRun, (report.name, period.start.astimezone(dt.UTC))) is not None:
                continue
            table = rows(s, report.cameras, period, labels)
        if report.to:
            try:
                send(cfg.reports.smtp, message(cfg.site, report, period, table, cfg.reports.smtp.sender))
            except ReportError as e:
                log.warning("reports: %s for %s not sent (%s); trying again in a minute", report.name, period.label, e)
                continue
        with sessions.begin() as s:
            hooks = writer.report(s, _payload(cfg.site, report, period, table)) if writer is not None else 0
            s.merge(ReportRun(name=report.name, period_start=period.start.astimezone(dt.UTC), sent_at=now,
                              recipients=len(report.to) + hooks))
        log.info("reports: %s for %s sent to %d recipients and %d sinks", report.name, period.label,
                 len(report.to), hooks)
        sent += 1
    return sent
