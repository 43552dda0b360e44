"""Server-side SVG charts, written by hand: stacked bars over time and compliance bars.

The SVG is inline in the page (no script, no library); every bar carries a <title> for a hover
tooltip. Colours are SVG presentation attributes, which the Content-Security-Policy allows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#2563eb", "#d97706", "#7c3aed", "#0d9488", "#db2777", "#65a30d", "#0891b2", "#9333ea",
           "#ea580c", "#4b5563")
WIDTH, HEIGHT = 960, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 26


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    values: list[int]


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def nice_max(value: float) -> float:
    """The top of a count axis with four whole, round steps (1, 2, 2.5 or 5 x 10^k; 3 but no 2.5 below 10):
    7 -> 8 (ticks 2, 4, 6, 8), 9 -> 12, 100 -> 100, 130 -> 200."""
    if value <= 4:
        return 4.0
    k = 10 ** math.floor(math.log10(value / 4))
    for step in ((1, 2, 3, 5, 10) if k == 1 else (1, 2, 2.5, 5, 10)):
        if 4 * step * k >= value:
            return 4 * step * k
    return 40.0 * k


def _fmt(v: float) -> str:
    return f"{v:g}" if v < 10_000 else f"{v / 1000:g}k"


def _axis(top: float) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    out = []
    for i in range(5):
        value = top * i / 4
        y = HEIGHT - BOTTOM - plot_h * i / 4
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="ytick" x="{LEFT - 4}" y="{y + 4:.1f}">{_fmt(value)}</text>')
    return out


def _bars(labels: list[str], series: list[Series], top: float, band: float) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    bar_w = max(1.0, band * 0.8)
    out = []
    for i, label in enumerate(labels):
        x = LEFT + i * band + (band - bar_w) / 2
        base = 0
        for s in series:
            n = s.values[i]
            if n <= 0:
                continue
            y0, y1 = plot_h * base / top, plot_h * (base + n) / top
            out.append(f'<rect x="{x:.2f}" y="{HEIGHT - BOTTOM - y1:.2f}" width="{bar_w:.2f}" '
                       f'height="{max(y1 - y0, 0.5):.2f}" fill="{s.color}">'
                       f'<title>{escape(s.name)}: {n} - {escape(label)}</title></rect>')
            base += n
    return out


def _xticks(ticks: list[tuple[int, str]], band: float) -> list[str]:
    out = []
    for i, text in ticks:
        x = LEFT + i * band + band / 2
        out.append(f'<line class="tick" x1="{x:.1f}" x2="{x:.1f}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM + 4}"/>'
                   f'<text class="xtick" x="{x:.1f}" y="{HEIGHT - 8}">{escape(text)}</text>')
    return out


def stacked_bars(labels: list[str], series: list[Series], *, title: str, ticks: list[tuple[int, str]],
                 unit: str = "") -> Markup:
    """One bar per label, stacked by series; labels are the tooltips, ticks (index, text) the axis."""
    if not labels:
        return Markup('<p class="muted">No data in this range.</p>')
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = nice_max(max(totals, default=0))
    band = (WIDTH - LEFT - RIGHT) / len(labels)
    parts = [(f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
              f'data-bucket="{escape(unit)}" data-bars="{len(labels)}" xmlns="http://www.w3.org/2000/svg">')]
    parts += _axis(top)
    parts += _bars(labels, series, top, band)
    parts += _xticks(ticks, band)
    parts.append("</svg>")
    return Markup("".join(parts))


def _legend(swatches: list[tuple[str, str]]) -> Markup:
    """(the swatch's rect attributes, its text) as the charts' legend list."""
    items = "".join(f'<li><svg width="10" height="10" aria-hidden="true"><rect {attrs} width="10" height="10"/>'
                    f'</svg>{escape(text)}</li>' for attrs, text in swatches)
    return Markup(f'<ul class="legend">{items}</ul>')


def legend(series: list[Series]) -> Markup:
    return _legend([(f'fill="{s.color}"', s.name) for s in series])


WARN_BAND = 0.15  # below the target by up to this much is amber, further is red


def rate_class(rate: float | None, target: float) -> str:
    """good / warn / bad for a compliance rate against the site's target (what operators scan for)."""
    if rate is None:
        return "none"
    return "good" if rate >= target else "warn" if rate >= target - WARN_BAND else "bad"


CHAR_PX = 7.4           # the width of a character of .hlabel (13 px system-ui), generously
LABEL_PX = (90, 300)    # the label column grows with the longest camera name, within these
ROW_H, BAR_H, TOP_PAD = 26, 18, 18


def _fit(label: str, width: float) -> str:
    most = int(width / CHAR_PX)
    return label if len(label) <= most else label[:max(1, most - 1)] + "…"


def compliance_bars(rows: list[tuple[str, float | None, str]], target: float) -> Markup:
    """Horizontal 0-100 % bars, one per (label, rate, detail), with the target as a dashed line.
    The label column is as wide as the longest name needs (up to a limit; longer names are cut
    with an ellipsis and whole in the tooltip), so nothing is cut off at the left edge."""
    if not rows:
        return Markup('<p class="muted">No people counted in this range.</p>')
    label_w = min(max(max(len(r[0]) for r in rows) * CHAR_PX + 12, LABEL_PX[0]), LABEL_PX[1])
    bar_w = WIDTH - label_w - 220
    height = TOP_PAD + ROW_H * len(rows) + 4
    parts = [(f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="compliance per camera" '
              f'xmlns="http://www.w3.org/2000/svg">')]
    for i, (label, rate, detail) in enumerate(rows):
        y = TOP_PAD + i * ROW_H + 4
        parts.append(f'<text class="hlabel" x="{label_w - 8:.0f}" y="{y + 14}"><title>{escape(label)}</title>'
                     f'{escape(_fit(label, label_w - 12))}</text>'
                     f'<rect class="track" x="{label_w:.0f}" y="{y}" width="{bar_w:.0f}" height="{BAR_H}"/>')
        if rate is not None:
            parts.append(f'<rect class="rate-{rate_class(rate, target)}" x="{label_w:.0f}" y="{y}" '
                         f'width="{bar_w * rate:.1f}" height="{BAR_H}"><title>{escape(label)}: '
                         f'{rate * 100:.1f} %</title></rect>')
        shown = "no people counted" if rate is None else f"{rate * 100:.1f} %"
        parts.append(f'<text class="hvalue" x="{label_w + bar_w + 8:.0f}" y="{y + 14}">'
                     f'{escape(shown)} <tspan class="muted">{escape(detail)}</tspan></text>')
    x = label_w + bar_w * target
    parts.append(f'<line class="target" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP_PAD - 2}" y2="{height - 2}"/>'
                 f'<text class="target-label" x="{x:.1f}" y="{TOP_PAD - 6}">target {target * 100:g} %</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def rate_legend(target: float) -> Markup:
    rows = (("good", f"at or above the target ({target * 100:g} %)"),
            ("warn", f"up to {WARN_BAND * 100:g} points below"), ("bad", "further below"))
    return _legend([(f'class="rate-{c}"', t) for c, t in rows])
