"""Compliance history: per calendar period, the SLO's attainment, budget spent and incidents.

Prometheus ranges are literal, so a period is one range as long as the period, ending at its end
with the ``@`` modifier: ``sum_over_time(slo:sli_errors:rate{slo="x"}[31d] @ <Feb 1>)`` reads the base
samples of January and no others, whatever the query's evaluation time. The base series are the
rules' own (every window of the alerts and the rolling period rules is a ratio of their sums), so a
period's error ratio is the same ratio of sums, cut at calendar boundaries: a sample belongs to the
period its timestamp is in (start < t <= end). Prometheus 2 ranges are closed at both ends and
Prometheus 3 ranges open on the left; on 2 the range is one millisecond shorter (timestamps are
whole milliseconds), so a sample exactly at a boundary is counted once, in the period it ends.
The running period's range ends now.

Incidents are firing episodes of the SLO's burn-rate alerts in Prometheus' own ``ALERTS`` series (so
``for`` and every override count as deployed): the number of evaluation steps at which some tier of
the SLO fires and none fired one step before. Tiers firing together are one incident; an episode
belongs to the period in which it began.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from foundation.durations import format_duration
from foundation.prometheus import PrometheusClient
from foundation.promql import Matcher, Selector
from slo import series
from slo.calendar import Calendar, Period, last_periods
from slo.model import SLO, Tier

Format = Literal["table", "csv", "markdown"]
FORMATS: tuple[str, ...] = ("table", "csv", "markdown")
MAX_COUNT = 120  # ten years of months
ALERTS = "ALERTS"


def closed_ranges(version: str) -> bool:
    """Whether this Prometheus version's ranges include their start (before 3.0: yes)."""
    try:
        return int(version.split(".", 1)[0]) < 3
    except ValueError:
        return True  # an unknown build: assume the more common 2.x semantics


def _ms(t: datetime) -> int:
    return round(t.timestamp() * 1000)


def _range(ms: int) -> str:
    return format_duration(ms // 1000) if ms % 1000 == 0 else f"{ms}ms"


@dataclass(frozen=True)
class Span:
    """The part of a period that has happened: [start, until], until = the end or now."""

    start_ms: int
    until_ms: int
    closed: bool  # the Prometheus' ranges include their start (2.x)

    @property
    def range(self) -> str:
        return _range(self.until_ms - self.start_ms - (1 if self.closed else 0))

    @property
    def at(self) -> str:
        return f"@ {self.until_ms // 1000}" if self.until_ms % 1000 == 0 else f"@ {self.until_ms / 1000:.3f}"


def period_sum(name: str, slo_id: str, span: Span) -> str:
    """The recorded base series ``name`` summed over exactly the span's samples (all groups)."""
    return f"sum(sum_over_time({series.selector(name, slo_id)}[{span.range}] {span.at}))"


def firing(alert: str, slo_id: str, tiers: Iterable[Tier]) -> Selector:
    names = "|".join(t.name for t in tiers)
    return Selector(ALERTS, (Matcher("alertname", "=", alert), Matcher(series.SLO_LABEL, "=", slo_id),
                             Matcher("alertstate", "=", "firing"), Matcher("slo_tier", "=~", names)))


def episodes(selector: Selector, span: Span, step: int) -> str:
    """Steps in the span at which ``selector`` has a series and had none one ``step`` before.

    ALERTS gets a staleness marker when an alert resolves, so absent means resolved, at once.
    """
    s = selector.promql()
    d = format_duration(step)
    return f"sum_over_time((max({s}) unless max({s} offset {d}))[{span.range}:{d}] {span.at})"


@dataclass(frozen=True)
class PeriodCompliance:
    period: Period
    until: datetime  # the period's end, or now while it runs
    objective: float
    error_budget: float
    errors: float | None  # sums of the base series (events/s samples): only their ratio means anything
    total: float | None
    incidents: int | None  # None: the SLO has no burn-rate alerts
    pages: int | None

    @property
    def partial(self) -> bool:
        return self.until < self.period.end

    @property
    def error_ratio(self) -> float | None:
        if self.total is None or self.total <= 0 or self.errors is None:
            return None  # no events: no data, never 100%
        return self.errors / self.total

    @property
    def attainment(self) -> float | None:
        r = self.error_ratio
        return None if r is None else 1 - r

    @property
    def budget_spent(self) -> float | None:
        """Share of the period's error budget spent (above 1: overspent)."""
        r = self.error_ratio
        return None if r is None else r / self.error_budget

    @property
    def met(self) -> bool | None:
        """The objective held over the period (so far, for the running one)."""
        r = self.error_ratio
        return None if r is None else r <= self.error_budget

    def row(self) -> dict[str, object]:
        return {"period": self.period.label, "start": self.period.start.isoformat().replace("+00:00", "Z"),
                "end": self.period.end.isoformat().replace("+00:00", "Z"), "partial": self.partial,
                "attainment": self.attainment, "objective": self.objective, "budget_spent": self.budget_spent,
                "met": self.met, "incidents": self.incidents, "pages": self.pages}


@dataclass(frozen=True)
class ComplianceHistory:
    slo: SLO
    calendar: Calendar
    periods: list[PeriodCompliance]


def calendar_for(slo: SLO, unit: str | None) -> Calendar:
    """The SLO's own calendar for its unit (timezone included), else UTC months or weeks."""
    if unit is None:
        return slo.calendar or Calendar("month")
    if slo.calendar and slo.calendar.unit == unit:
        return slo.calendar
    return Calendar(unit)  # type: ignore[arg-type]  # Calendar checks the unit


def _value(prom: PrometheusClient, expr: str) -> float | None:
    samples = prom.query(expr)
    return samples[0].value if samples and math.isfinite(samples[0].value) else None


def history(prom: PrometheusClient, slo: SLO, tiers: tuple[Tier, ...], step: int, calendar: Calendar,
            count: int, now: datetime, closed: bool | None = None, workers: int = 4) -> ComplianceHistory:
    """The last ``count`` periods up to now's, from the base series and ALERTS in Prometheus.

    ``tiers`` are the SLO's effective burn-rate tiers and ``step`` its rules' evaluation interval
    (the resolution of ALERTS). ``closed``: None asks the server for its version.
    """
    if closed is None:
        closed = closed_ranges(prom.version())
    pages = tuple(t for t in tiers if t.severity == "page")
    alert = slo.alert_name
    now_ms = _ms(now)

    def one(p: Period) -> PeriodCompliance:
        span = Span(_ms(p.start), min(_ms(p.end), now_ms), closed)

        def count_of(selected: tuple[Tier, ...]) -> int | None:
            if not selected:
                return None if not tiers else 0
            return int(_value(prom, episodes(firing(alert, slo.id, selected), span, step)) or 0)

        until = p.end if span.until_ms == _ms(p.end) else now
        if span.until_ms <= span.start_ms:  # the period began this millisecond: nothing to read yet
            return PeriodCompliance(p, until, float(slo.objective), float(slo.error_budget), None, None,
                                    *([0, 0] if tiers else [None, None]))
        return PeriodCompliance(p, until, float(slo.objective), float(slo.error_budget),
                                _value(prom, period_sum(series.ERRORS, slo.id, span)),
                                _value(prom, period_sum(series.TOTAL, slo.id, span)),
                                count_of(tiers), count_of(pages))

    chosen = last_periods(calendar, count, now)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        rows = list(pool.map(one, chosen))
    return ComplianceHistory(slo, calendar, rows)


# --- output --------------------------------------------------------------------------------------

COLUMNS = ("period", "start", "end", "partial", "attainment", "objective", "budget_spent", "met", "incidents",
           "pages")


def _csv_cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, float) else str(v)


def to_csv(h: ComplianceHistory) -> str:
    """One row per period; ratios are 0–1 at full precision, empty cells mean no data."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["slo", *COLUMNS])
    for p in h.periods:
        row = p.row()
        w.writerow([h.slo.id, *(_csv_cell(row[c]) for c in COLUMNS)])
    return out.getvalue()


def _pct(v: float | None, digits: int = 3) -> str:
    return "no data" if v is None else f"{v * 100:.{digits}f}%"


def _met(p: PeriodCompliance) -> str:
    if p.met is None:
        return "no data"
    word = "met" if p.met else "MISSED"
    return f"{word} (so far)" if p.partial else word


def _count(v: int | None) -> str:
    return "—" if v is None else str(v)


def _human_rows(h: ComplianceHistory) -> list[list[str]]:
    return [[p.period.label, f"{p.period.start:%Y-%m-%d %H:%M}", f"{p.until:%Y-%m-%d %H:%M}",
             _pct(p.attainment), _pct(p.budget_spent, 1), _met(p), _count(p.incidents), _count(p.pages)]
            for p in h.periods]


_HEADS = ["period", "start (UTC)", "until (UTC)", "attainment", "budget spent", "met", "incidents", "pages"]


def _title(h: ComplianceHistory) -> str:
    tz = "" if h.calendar.timezone == "UTC" else f" ({h.calendar.timezone})"
    return (f"{h.slo.id}: objective {float(h.slo.objective * 100):g}% per calendar {h.calendar.unit}{tz}, "
            f"last {len(h.periods)}")


def to_markdown(h: ComplianceHistory) -> str:
    lines = [f"### {_title(h)}", "", "| " + " | ".join(_HEADS) + " |",
             "|" + "|".join(["---"] * 3 + ["---:"] * 2 + ["---"] + ["---:"] * 2) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in _human_rows(h)]
    return "\n".join(lines) + "\n"


def to_table(h: ComplianceHistory) -> str:
    rows = [_HEADS, *_human_rows(h)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADS))]
    right = {3, 4, 6, 7}
    text = ["  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
            .rstrip() for r in rows]
    return _title(h) + "\n" + "\n".join(text) + "\n"


RENDER: dict[str, Callable[[ComplianceHistory], str]] = {"table": to_table, "csv": to_csv, "markdown": to_markdown}


def deployed(prom: PrometheusClient, slo: SLO, at: datetime) -> tuple[tuple[Tier, ...], int]:
    """The SLO's tiers and rule evaluation interval as deployed at ``at``: under the window profile its
    rules in Prometheus were generated for (the ``profile`` label of ``slo:info``), else its own. The
    interval matters: it is the resolution at which episodes of ALERTS are told apart."""
    from slo.windows import PROFILES, apply_profile, effective_tiers, profile_for

    info = prom.query(series.selector(series.INFO, slo.id), time=at)
    name = info[0].labels.get("profile") if info else None
    if name in PROFILES:
        profile = PROFILES[name]
        return effective_tiers(apply_profile(slo, profile), profile), profile.interval
    profile = profile_for(slo)
    return effective_tiers(slo, profile), profile.interval
