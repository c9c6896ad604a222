"""Live SLO status from Prometheus: SLI now, error ratio and burn rate per window, budget left,
time to exhaustion, and which alert tiers are active.

Everything is computed from the two recorded base series, with the same ratio-of-sums PromQL as
the rules. A series without events is reported as "no data": never as 100%, never as NaN.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from foundation.durations import format_duration
from foundation.prometheus import PrometheusClient, finite
from slo import series
from slo.model import SLO
from slo.rules import Options, guard_events, resolve
from slo.windows import WindowProfile, effective_tiers

NO_DATA = "no data"


@dataclass
class WindowStatus:
    window: str
    error_ratio: float | None
    burn_rate: float | None
    events: float | None


@dataclass
class GroupStatus:
    labels: dict[str, str]
    status: str  # ok | burning | exhausted | no data
    sli: float | None  # share of good events over the shortest alert window
    budget_remaining: float | None  # share of the period's error budget left (negative: overspent)
    time_to_exhaustion_s: float | None  # at the burn rate of the first page tier's long window
    windows: list[WindowStatus] = field(default_factory=list)
    tiers_active: list[str] = field(default_factory=list)


@dataclass
class SLOReport:
    slo: str
    service: str
    name: str
    objective: float
    period: str
    profile: str
    groups: list[GroupStatus]
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        head = f"{self.slo}  objective {self.objective * 100:g}% over {self.period} ({self.profile})"
        if self.error:
            return f"{head}\n  data source error: {self.error}"
        if not self.groups:
            return f"{head}\n  {NO_DATA}"
        lines = [head]
        for g in self.groups:
            where = ",".join(f"{k}={v}" for k, v in sorted(g.labels.items())) or "all"
            if g.status == NO_DATA:
                lines.append(f"  [{where}] {NO_DATA}")
                continue
            tte = _human(g.time_to_exhaustion_s) if g.time_to_exhaustion_s is not None else "-"
            lines.append(f"  [{where}] {g.status}: SLI {_pct(g.sli)}, budget left {_pct(g.budget_remaining)}, "
                         f"exhausted in {tte}; tiers firing: {', '.join(g.tiers_active) or 'none'}")
            lines.append("    " + "  ".join(f"{w.window}: {_num(w.burn_rate)}x" for w in g.windows))
        return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.3f}%"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _human(seconds: float) -> str:
    if seconds == 0:
        return "0s (exhausted)"
    if math.isinf(seconds):
        return "never"
    return format_duration(max(1, int(seconds)))


def _key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in labels.items() if k not in ("__name__", series.SLO_LABEL)))


def evaluate(slo: SLO, prom: PrometheusClient, profile: WindowProfile, at: float | None = None) -> SLOReport:
    tiers = effective_tiers(slo, profile)
    windows = sorted({w for t in tiers for w in (t.short_window, t.long_window)} | {profile.base_window * 5})
    budget = float(slo.error_budget)
    report = SLOReport(slo.id, slo.service, slo.name, float(slo.objective), format_duration(slo.period),
                       profile.name, [])
    ratios: dict[int, dict[Any, float]] = {}
    events: dict[int, dict[Any, float]] = {}
    for w in [*windows, slo.period]:
        ratios[w] = {_key(s.labels): s.value for s in prom.query(series.window_error_ratio(slo.id, w), at)}
        events[w] = {_key(s.labels): s.value for s in prom.query(series.window_events(slo.id, w), at)}
    groups = set().union(*(set(r) for r in events.values()))
    for key in sorted(groups):
        labels = dict(key)
        period_ratio = finite(ratios[slo.period].get(key, math.nan))
        if period_ratio is None or not events[slo.period].get(key):
            report.groups.append(GroupStatus(labels, NO_DATA, None, None, None))
            continue
        statuses = []
        for w in windows:
            r = finite(ratios[w].get(key, math.nan))
            n = events[w].get(key)
            statuses.append(WindowStatus(format_duration(w), r, None if r is None else r / budget, n))
        remaining = 1 - period_ratio / budget
        by_window = {s.window: s for s in statuses}
        active = []
        for t in tiers:
            long_s, short_s = by_window[format_duration(t.long_window)], by_window[format_duration(t.short_window)]
            factor = float(t.burn_rate(slo.period))
            if (long_s.burn_rate or 0) > factor and (short_s.burn_rate or 0) > factor and \
                    (long_s.events or 0) >= guard_events(slo, t):
                active.append(t.name)
        pages = [t for t in tiers if t.severity == "page"] or list(tiers)
        current = by_window[format_duration(pages[0].long_window)].burn_rate if pages else None
        if remaining <= 0:
            tte: float | None = 0.0
        elif current is None or current <= 0:
            tte = math.inf
        else:
            tte = remaining * slo.period / current
        shortest = by_window[format_duration(min(windows))]
        sli = None if shortest.error_ratio is None else min(1.0, max(0.0, 1 - shortest.error_ratio))
        status = "exhausted" if remaining <= 0 else ("burning" if active else "ok")
        report.groups.append(GroupStatus(labels, status, sli, remaining, tte, statuses, active))
    return report


def evaluate_all(slos: list[SLO], url: str, profile: str | None = None, at: float | None = None,
                 timeout: float = 30.0) -> list[SLOReport]:
    """Reports for every SLO; an unreachable Prometheus raises DataSourceError (CLI: exit 2)."""
    with PrometheusClient(url, timeout=timeout) as prom:
        out = []
        for slo in slos:
            resolved, prof = resolve(slo, Options(profile=profile))
            out.append(evaluate(resolved, prom, prof, at))
        return out
