"""A compliance report's content: the table of a period (per camera: people judged, violations,
compliance, people not judged, how much of the period it was watched), as CSV and as a one-page
PDF with its chart. Pure: the scheduler (workers.alerts.reports) sends them, the dashboard's
Reports page serves them again for any period sent.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass

from sqlalchemy.orm import Session

from maskwatch.storage.queries import compliance

HEADER = ["camera", "name", "people judged", "violations", "compliance", "not judged", "watched"]


@dataclass(frozen=True)
class Period:
    start: dt.datetime  # aware, the site's zone
    end: dt.datetime

    @property
    def label(self) -> str:
        last = (self.end - dt.timedelta(days=1)).date()
        return self.start.date().isoformat() if last == self.start.date() else \
            f"{self.start.date().isoformat()} to {last.isoformat()}"

    @classmethod
    def of(cls, start: dt.datetime, every: str, zone) -> Period:
        """The period of a report that begins at `start` (`every`: day or week), in the site's zone."""
        local = start.astimezone(zone)
        days = 1 if every == "day" else 7
        end_day = local.date() + dt.timedelta(days=days)
        return cls(local, dt.datetime.combine(end_day, dt.time(), zone))


def title_of(site: str, period: Period) -> str:
    return f"{site}: mask compliance, {period.label}"


def file_stem(name: str, period: Period) -> str:
    """The files' name without its suffix, the same in the e-mail and on the Reports page."""
    return f"maskwatch-{name}-{period.start.date().isoformat()}"


def rows(session: Session, cameras: list[str], period: Period, labels: dict[str, str]) -> list[list]:
    """`cameras`: the report's (empty: every camera of `labels`)."""
    seconds = (period.end - period.start).total_seconds()
    by_cam = {c.camera_id: c for c in compliance(session, period.start, period.end)}
    out = []
    for cam in cameras or list(labels):
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


def _latin(text) -> str:
    return str(text).encode("latin-1", "replace").decode("latin-1")


def _share(text: str) -> float | None:
    return float(text.rstrip("%")) / 100 if text.endswith("%") else None


def _chart(pdf, table: list[list]) -> None:
    """Per camera, two bars on one 0-100% scale: compliance (dark) and the share of the period
    watched (light), so a "perfect" camera that was offline all week shows as such."""
    x0, width, bar = 75.0, 180.0, 3.2
    pdf.set_font("helvetica", size=8)
    for row in table[:20]:  # one page: the table below lists every camera
        y = pdf.get_y()
        pdf.set_xy(10, y)
        pdf.cell(x0 - 12, 2 * bar, _latin(row[1])[:40])
        for i, (share, shade) in enumerate(((_share(row[4]), 40), (_share(row[6]), 180))):
            pdf.set_fill_color(shade, shade + 20 if shade < 100 else shade, shade)
            if share is not None:
                pdf.rect(x0, y + i * bar, max(0.3, width * share), bar - 0.4, style="F")
        pdf.set_xy(x0 + width + 2, y)
        pdf.cell(30, 2 * bar, _latin(f"{row[4]} / watched {row[6]}"))
        pdf.set_y(y + 2 * bar + 1.5)
    pdf.set_fill_color(255, 255, 255)  # the table below is not shaded
    pdf.ln(3)


def to_pdf(title: str, table: list[list]) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(orientation="landscape")
    pdf.add_page()
    pdf.set_font("helvetica", "B", 14)
    pdf.cell(0, 10, _latin(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", size=8)
    pdf.cell(0, 6, "Compliance (dark) and the share of the period the camera was watched (light), 0-100%.",
             new_x="LMARGIN", new_y="NEXT")
    _chart(pdf, table)
    pdf.set_font("helvetica", size=9)
    with pdf.table(col_widths=(30, 60, 30, 25, 25, 25, 30), text_align="LEFT") as t:
        for line in [HEADER, *table]:
            row = t.row()
            for value in line:
                row.cell(_latin(value))
    return bytes(pdf.output())
