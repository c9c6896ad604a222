"""Error budget consumed by the experiment, from the ledger (every client query) and, when Prometheus
has them, from the gateway's counters.

Burn rate is the error ratio over the budget ratio (1 - objective). A burn rate B sustained for a
time T spends B x T / period of the period's budget — the share reported as ``budget_consumed``, the
same arithmetic as the multi-window burn-rate alerts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from chaos.verdicts.base import Figures, Verdict, at_most
from chaos.verdicts.queries import platform_failed
from loadgen.ledger import ABANDONED


@dataclass(frozen=True)
class PrometheusBudget:
    """The gateway's counters over the experiment's window, as Prometheus saw them."""

    events: float
    bad_events: float
    error_ratio: float
    budget_consumed: float


@dataclass(frozen=True)
class BudgetFigures(Figures):
    kind: ClassVar[str] = "budget"
    objective: float
    period_s: float
    duration_s: float
    events: int
    bad_events: int
    error_ratio: float
    burn_rate: float
    budget_consumed: float  # share of the period's budget
    prometheus: PrometheusBudget | None = None

    def to_dict(self) -> dict[str, Any]:
        # The journal keeps Prometheus's view flat, beside the ledger's: prometheus_events, ...
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "prometheus"}
        if self.prometheus is not None:
            out.update({f"prometheus_{f.name}": getattr(self.prometheus, f.name) for f in fields(self.prometheus)})
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BudgetFigures:
        prom = None
        if "prometheus_budget_consumed" in data:
            prom = PrometheusBudget(**{f.name: data[f"prometheus_{f.name}"] for f in fields(PrometheusBudget)})
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name != "prometheus"}, prometheus=prom)


def budget_figures(df: pd.DataFrame, objective: float, period_s: float, t0: float, t1: float) -> BudgetFigures:
    window = df[(df["start"] >= t0) & (df["start"] <= t1)]
    total = len(window)
    # A lost query is a bad event too: the client never got its answer.
    bad = int(platform_failed(window).sum() + (window["status"] == ABANDONED).sum())
    ratio = bad / total if total else 0.0
    burn = ratio / (1 - objective)
    duration = max(t1 - t0, 0.0)
    return BudgetFigures(objective, period_s, duration, total, bad, ratio, burn, burn * duration / period_s)


def burn_series(df: pd.DataFrame, objective: float, period_s: float, t0: float, t1: float,
                step_s: float = 1.0) -> pd.DataFrame:
    """Per-bin burn rate and cumulative share of the period's budget consumed, for the chart."""
    edges = np.arange(t0, t1 + step_s, step_s)
    if len(edges) < 2:
        return pd.DataFrame(columns=["t", "burn_rate", "budget_consumed"])
    d = df[df["status"] != ""].copy()
    d["bad"] = platform_failed(d) | (d["status"] == ABANDONED)
    d["bin"] = pd.cut(d["start"], edges, labels=edges[:-1], right=False)
    g = d.groupby("bin", observed=False)
    ratio = (g["bad"].sum() / g.size().replace(0, np.nan)).fillna(0.0).to_numpy(dtype=float)
    burn = ratio / (1 - objective)
    return pd.DataFrame({"t": edges[:-1] - t0, "burn_rate": burn,
                         "budget_consumed": np.cumsum(burn * step_s / period_s)})


def budget_verdict(df: pd.DataFrame, objective: float, period_s: float, t0: float, t1: float, *,
                   max_consumed: float | None = None, prometheus: PrometheusBudget | None = None) -> Verdict:
    figures = replace(budget_figures(df, objective, period_s, t0, t1), prometheus=prometheus)
    notes = []
    if prometheus is not None:
        notes.append("prometheus_* figures: the gateway's counters over the same window, as Prometheus saw them")
    return Verdict(f"SLO {objective * 100:g}% over {period_s / 3600:g}h", figures,
                   (at_most("budget_consumed", figures.budget_consumed, max_consumed),), tuple(notes))
