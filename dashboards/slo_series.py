"""The SLO generator's series that the SLOs dashboard reads, named in this one place.

slo/ generates the recording rules; these are the names and labels the dashboard expects of them, in
the style of Sloth's ``slo:*`` rules. The generator must record exactly these (the SLOs dashboard
shows "No data" otherwise, and the live proof fails on it):

- ``slo:sli_error:ratio_rate<window>`` for every window of ``TIERS``: the SLI's error ratio over the
  window, labelled ``slo`` (and ``engine`` when the SLO is per engine);
- ``slo:error_budget:ratio``: 1 - objective, one series per ``slo`` (matched ``on (slo)``);
- ``slo:objective:ratio``: the objective, one series per ``slo``;
- ``slo:period_error_budget_remaining:ratio``: the share of the period's error budget left
  (1 untouched, 0 spent, negative overspent), labelled like the SLI.

The burn-rate tiers are the SRE Workbook's multi-window multi-burn-rate defaults for a 30-day period;
the alerts the generator writes use the same windows and factors.
"""

from __future__ import annotations

from dataclasses import dataclass

from dashboards import promql as q

SLO = "slo"
#: A label the generator may put on the SLI series to name their window; burn rates of two windows
#: are matched ignoring it.
WINDOW = "window"

OBJECTIVE = "slo:objective:ratio"
ERROR_BUDGET = "slo:error_budget:ratio"
BUDGET_REMAINING = "slo:period_error_budget_remaining:ratio"


def error_ratio(window: str) -> str:
    return f"slo:sli_error:ratio_rate{window}"


@dataclass(frozen=True)
class Tier:
    severity: str
    long_window: str
    short_window: str
    burn_rate: float

    @property
    def name(self) -> str:
        return f"{self.severity} {self.long_window}/{self.short_window} over {self.burn_rate:g}x"


TIERS: tuple[Tier, ...] = (
    Tier("page", "1h", "5m", 14.4),
    Tier("page", "6h", "30m", 6),
    Tier("ticket", "1d", "2h", 3),
    Tier("ticket", "3d", "6h", 1),
)
_WINDOW_ORDER = {"m": 60, "h": 3600, "d": 86400}
WINDOWS: tuple[str, ...] = tuple(sorted({w for t in TIERS for w in (t.long_window, t.short_window)},
                                        key=lambda w: int(w[:-1]) * _WINDOW_ORDER[w[-1]]))


def select(name: str, *, per_engine: bool = True) -> str:
    """A selector scoped to the dashboard's SLO (and engine) selection.

    ``engine=~"$engine"`` is harmless on a series without that label while "All" is selected.
    """
    matchers = [f'{SLO}=~"${SLO}"']
    if per_engine:
        matchers.append(f'{q.ENGINE}=~"{q.SCOPE[q.ENGINE]}"')
    return f"{name}{{{', '.join(matchers)}}}"


def burn_rate(window: str) -> str:
    """Error ratio over the window divided by the error budget: 1 spends the budget exactly in the
    period, 14.4 spends 2% of a 30-day budget in an hour."""
    return f"{select(error_ratio(window))} / on ({SLO}) group_left () {select(ERROR_BUDGET, per_engine=False)}"


def tier_burning(tier: Tier) -> str:
    """1 while both windows of the tier burn faster than its factor — the alert's condition — else 0."""
    long = f"({burn_rate(tier.long_window)}) > bool {tier.burn_rate:g}"
    short = f"({burn_rate(tier.short_window)}) > bool {tier.burn_rate:g}"
    return f"({long}) * ignoring ({WINDOW}) ({short})"
