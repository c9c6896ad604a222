"""The SLO rules' series and alert conditions, as the SLOs dashboard reads them — the one place the
dashboards meet slo/.

Nothing here is named twice: series names and the window error ratio come from ``slo.series`` (the
builders the rules themselves use), SLOs from ``slo.specs``, and each SLO's profile and burn-rate
tiers from ``slo.rules.generate``, exactly as the rule generator resolves them. A panel's burn rate
is therefore the alert's own left-hand side, and its threshold the alert's own factor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from dashboards import promql as q
from foundation.durations import format_duration
from foundation.promql import Matcher
from slo import series
from slo.model import SLO, Tier
from slo.rules import Options, generate, guard_events
from slo.specs import platform_slos
from slo.windows import WindowProfile

SLO_LABEL = series.SLO_LABEL
#: Every series name the SLO panels read.
SERIES: tuple[str, ...] = (series.TOTAL, series.ERRORS, series.BUDGET_REMAINING)


def _number(value: Fraction | float) -> str:
    return repr(float(value))


@dataclass(frozen=True)
class SLOView:
    """One SLO as its rules were generated: resolved spec, window profile and effective tiers."""

    slo: SLO
    profile: WindowProfile
    tiers: tuple[Tier, ...]

    @property
    def id(self) -> str:
        return self.slo.id

    @property
    def per_engine(self) -> bool:
        return q.ENGINE in self.slo.sli.group_by

    @property
    def legend(self) -> str:
        return " ".join(f"{{{{{label}}}}}" for label in self.slo.sli.group_by) or self.id

    def factor(self, tier: Tier) -> float:
        return float(tier.burn_rate(self.slo.period))

    def _scoped(self, expr: str) -> str:
        """``expr`` with every SLO selector narrowed to the dashboard's engine selection.

        slo.series selects by SLO only; a per-engine SLO's series also carry ``engine``.
        """
        if not self.per_engine:
            return expr
        engine = Matcher(q.ENGINE, "=~", q.SCOPE[q.ENGINE])
        for name in SERIES:
            expr = expr.replace(series.selector(name, self.id), series.select(name, self.id, engine).promql(", "))
        return expr

    def budget_remaining(self) -> str:
        return self._scoped(series.selector(series.BUDGET_REMAINING, self.id))

    def burn_rate(self, window: int) -> str:
        """The window's error ratio over the error budget: 1 spends the budget exactly in the period."""
        ratio = series.window_error_ratio(self.id, window)
        return self._scoped(f"({ratio}) / {_number(self.slo.error_budget)}")

    def tier_burning(self, tier: Tier) -> str:
        """1 while the tier's alert condition holds (both windows above the factor, and enough events
        for the low-traffic guard), else 0 — the alert's expression with ``bool`` comparisons."""
        factor = _number(tier.burn_rate(self.slo.period))
        parts = [f"({self.burn_rate(tier.long_window)} > bool {factor})",
                 f"({self.burn_rate(tier.short_window)} > bool {factor})"]
        if (events := guard_events(self.slo, tier)) > 0:
            long_events = self._scoped(series.window_events(self.id, tier.long_window))
            parts.append(f"({long_events} >= bool {events})")
        return " * ".join(parts)

    def describe(self) -> str:
        return (f"{self.id}: {float(self.slo.objective * 100):g}% over {format_duration(self.slo.period)} "
                f"({self.profile.name} windows)")


def views(slos: Sequence[SLO] | None = None, profile: str | None = None) -> list[SLOView]:
    """The SLOs (default: the platform's own) resolved as ``enginewatch slo generate`` resolves them."""
    generated = generate(list(platform_slos() if slos is None else slos), Options(profile=profile))
    return [SLOView(r.slo, r.profile, r.tiers) for r in generated]


def window(seconds: int) -> str:
    return format_duration(seconds)
