"""A small server-rendered SVG line chart: no plotting library on the request path, no script in the page.

Lines may have gaps: a ``None`` value is "no data" and breaks the line instead of being drawn as 0 or
joined across, so a chart never invents values that Prometheus did not return.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

# Colour-blind-safe palette (Okabe-Ito), darkest first so a single line reads well on white.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")

Point = tuple[float, float | None]


@dataclass(frozen=True)
class Line:
    label: str
    points: Sequence[Point]  # (unix seconds, value or None for no data)
    color: str | None = None


@dataclass(frozen=True)
class Rule:
    """A horizontal reference line, e.g. "budget exhausted" at 0."""

    value: float
    label: str
    color: str = "#b00020"


@dataclass(frozen=True)
class Chart:
    title: str
    lines: Sequence[Line]
    y_format: Callable[[float], str] = field(default=lambda v: f"{v:g}")
    rules: Sequence[Rule] = ()
    y_min: float | None = None  # forced into the range (e.g. 0 for a budget)
    y_max: float | None = None
    y_floor: float | None = None  # values below are drawn at the floor (and the chart says so)
    x_min: float | None = None  # the requested time range, so a line that starts late shows it
    x_max: float | None = None
    width: int = 1200
    height: int = 320
    empty_text: str = "no data in this range"


_M_LEFT, _M_RIGHT, _M_TOP, _M_BOTTOM = 64, 40, 28, 44


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (steps of 1, 2, 2.5 or 5 × 10^k)."""
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    ticks = []
    t = first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(t, 12))
    return ticks


_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
               86400, 2 * 86400, 7 * 86400)


def time_ticks(start: float, end: float, count: int = 6) -> list[float]:
    span = max(end - start, 1.0)
    step = next((s for s in _TIME_STEPS if span / s <= count), _TIME_STEPS[-1])
    first = math.ceil(start / step) * step
    return [float(t) for t in range(int(first), int(end) + 1, step)]


def time_label(t: float, span: float) -> str:
    d = datetime.fromtimestamp(t, UTC)
    if span >= 3 * 86400:
        return d.strftime("%b %d")
    if span >= 86400:
        return d.strftime("%d %H:%M")
    if span >= 600:
        return d.strftime("%H:%M")
    return d.strftime("%H:%M:%S")


def _clipped(line: Line, floor: float | None) -> Line:
    if floor is None:
        return line
    return Line(line.label, [(t, v if v is None or v >= floor else floor) for t, v in line.points], line.color)


def _segments(points: Sequence[Point]) -> list[list[tuple[float, float]]]:
    out: list[list[tuple[float, float]]] = [[]]
    for t, v in points:
        if v is None or not math.isfinite(v):
            if out[-1]:
                out.append([])
            continue
        out[-1].append((t, v))
    return [s for s in out if s]


@dataclass(frozen=True)
class _Plot:
    """The plotting area and the data → pixel mapping."""

    t_lo: float
    t_hi: float
    y_lo: float
    y_hi: float
    pw: float
    ph: float

    @property
    def t_span(self) -> float:
        return max(self.t_hi - self.t_lo, 1.0)

    def x(self, t: float) -> float:
        return _M_LEFT + (t - self.t_lo) / self.t_span * self.pw

    def y(self, v: float) -> float:
        return _M_TOP + self.ph - (v - self.y_lo) / (self.y_hi - self.y_lo) * self.ph


def _grid(chart: Chart, p: _Plot, y_ticks: list[float]) -> list[str]:
    out = []
    for tick in y_ticks:
        out.append(f'<line x1="{_M_LEFT}" x2="{_M_LEFT + p.pw}" y1="{p.y(tick):.1f}" y2="{p.y(tick):.1f}" '
                   'stroke="#e6e8ee"/>')
        out.append(f'<text x="{_M_LEFT - 6}" y="{p.y(tick) + 4:.1f}" text-anchor="end" fill="#555">'
                   f"{escape(chart.y_format(tick))}</text>")
    for tick in time_ticks(p.t_lo, p.t_hi):
        out.append(f'<line x1="{p.x(tick):.1f}" x2="{p.x(tick):.1f}" y1="{_M_TOP}" y2="{_M_TOP + p.ph}" '
                   'stroke="#eef0f4"/>')
        out.append(f'<text x="{p.x(tick):.1f}" y="{_M_TOP + p.ph + 16}" text-anchor="middle" fill="#555">'
                   f"{escape(time_label(tick, p.t_span))}</text>")
    for r in chart.rules:
        out.append(f'<line x1="{_M_LEFT}" x2="{_M_LEFT + p.pw}" y1="{p.y(r.value):.1f}" y2="{p.y(r.value):.1f}" '
                   f'stroke="{r.color}" stroke-dasharray="5 4"/>')
        out.append(f'<text x="{_M_LEFT + p.pw - 4}" y="{p.y(r.value) - 4:.1f}" text-anchor="end" '
                   f'fill="{r.color}">{escape(r.label)}</text>')
    return out


def _unrecorded(p: _Plot, first: float) -> list[str]:
    """Shade the start of the range where nothing was recorded: a blank reads like a rendering fault."""
    if first - p.t_lo <= 0.02 * p.t_span:
        return []
    width = p.x(first) - _M_LEFT
    out = [f'<rect class="nodata" x="{_M_LEFT}" y="{_M_TOP}" width="{width:.1f}" height="{p.ph}" '
           'fill="#eef0f4" opacity="0.8"/>']
    if width > 120:  # room for the words
        out.append(f'<text x="{_M_LEFT + width / 2:.1f}" y="{_M_TOP + p.ph / 2:.1f}" text-anchor="middle" '
                   'fill="#6b7385">no data recorded</text>')
    return out


def _lines(p: _Plot, lines: Sequence[Line]) -> list[str]:
    out = []
    for i, line in enumerate(lines):
        color = line.color or PALETTE[i % len(PALETTE)]
        for seg in _segments(line.points):
            if len(seg) == 1:
                (t, v), = seg
                out.append(f'<circle cx="{p.x(t):.1f}" cy="{p.y(v):.1f}" r="2.5" fill="{color}"/>')
                continue
            d = " ".join(f"{p.x(t):.1f},{p.y(v):.1f}" for t, v in seg)
            out.append(f'<polyline class="series" points="{d}" fill="none" stroke="{color}" '
                       'stroke-width="2" stroke-linejoin="round"/>')
    return out


def render(chart: Chart) -> str:
    w, h = chart.width, chart.height
    pw, ph = w - _M_LEFT - _M_RIGHT, h - _M_TOP - _M_BOTTOM
    title = escape(chart.title)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {w} {h}" width="{w}" '
             f'height="{h}" role="img" aria-label="{title}" font-family="system-ui, sans-serif" font-size="11">'
             f"<title>{title}</title>",
             f'<text x="{_M_LEFT}" y="16" font-size="13" font-weight="600" fill="#222">{title}</text>',
             f'<rect x="{_M_LEFT}" y="{_M_TOP}" width="{pw}" height="{ph}" fill="#fbfbfd" stroke="#d0d4dc"/>']
    lines = [_clipped(line, chart.y_floor) for line in chart.lines]
    drawn = [(t, v) for line in lines for t, v in line.points if v is not None and math.isfinite(v)]
    if not drawn:
        parts.append(f'<text x="{_M_LEFT + pw / 2}" y="{_M_TOP + ph / 2}" text-anchor="middle" fill="#666" '
                     f'font-size="13">{escape(chart.empty_text)}</text></svg>')
        return "".join(parts)
    values = [v for _, v in drawn]
    times = [t for line in lines for t, _ in line.points]
    extra = [r.value for r in chart.rules] + [v for v in (chart.y_min, chart.y_max) if v is not None]
    y_ticks = nice_ticks(min(values + extra), max(values + extra))
    p = _Plot(min(times) if chart.x_min is None else chart.x_min, max(times) if chart.x_max is None else chart.x_max,
              y_ticks[0], y_ticks[-1], pw, ph)
    parts += _grid(chart, p, y_ticks)
    parts += _unrecorded(p, min(t for t, _ in drawn))
    floor = chart.y_floor
    if floor is not None and any(v is not None and v < floor for line in chart.lines for _, v in line.points):
        label = escape(chart.y_format(floor))
        parts.append(f'<text x="{_M_LEFT + 4}" y="{_M_TOP + ph - 6}" fill="#666">values below {label} drawn at '
                     f"{label}</text>")
    parts += _lines(p, lines)
    parts.append(_legend(chart.lines, _M_LEFT, h - 10))
    parts.append("</svg>")
    return "".join(parts)


def _legend(lines: Sequence[Line], x0: float, y0: float) -> str:
    out, x = [], x0
    for i, line in enumerate(lines):
        color = line.color or PALETTE[i % len(PALETTE)]
        label = escape(line.label)
        out.append(f'<rect x="{x}" y="{y0 - 8}" width="14" height="3" fill="{color}"/>'
                   f'<text x="{x + 18}" y="{y0 - 4}" fill="#333">{label}</text>')
        x += 28 + 6.5 * len(line.label)
    return "".join(out)
