"""The JSON API's schema (pydantic), built from the service's dataclasses.

``null`` always means "no data" (no events, or no series in Prometheus); a number is never invented
for it. Ratios are 0–1, durations are seconds, windows are also given in Prometheus notation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from foundation.durations import format_duration
from slo.service.gate import GroupCheck, Verdict
from slo.service.source import GroupState, SLOState, TierState, WindowState


class ErrorBody(BaseModel):
    error: str = Field(description="What went wrong, in one sentence.")
    known: list[str] | None = Field(None, description="The SLOs that exist, when the one asked for does not.")
    data_source: str | None = Field(None, description="The data source's own error, when Prometheus failed.")


class Window(BaseModel):
    window: str = Field(examples=["1h"])
    seconds: int
    error_ratio: float | None
    burn_rate: float | None

    @classmethod
    def of(cls, w: WindowState) -> Window:
        return cls(window=format_duration(w.seconds), seconds=w.seconds, error_ratio=w.error_ratio,
                   burn_rate=w.burn_rate)


class TierStatus(BaseModel):
    name: str
    severity: Literal["page", "ticket"]
    long_window: Window
    short_window: Window
    burn_rate_threshold: float = Field(description="Both windows must burn faster than this to fire.")
    error_ratio_threshold: float
    budget_share: float = Field(description="Share of the period's budget the tier allows in its long window.")
    active: bool = Field(description="The tier's alert condition holds now (before any `for`).")

    @classmethod
    def of(cls, t: TierState) -> TierStatus:
        return cls(name=t.tier.name, severity=t.tier.severity, long_window=Window.of(t.long),
                   short_window=Window.of(t.short), burn_rate_threshold=t.burn_rate_threshold,
                   error_ratio_threshold=t.error_ratio_threshold, budget_share=float(t.tier.budget_share),
                   active=t.active)


class GroupSummary(BaseModel):
    labels: dict[str, str] = Field(description="The group_by labels of this series (empty: ungrouped SLO).")
    has_data: bool
    sli: float | None = Field(description="Good share over the base window: the SLI now.")
    sli_period: float | None = Field(description="Good share over the whole period (compare with the objective).")
    budget_remaining: float | None = Field(description="Share of the period's error budget left; negative "
                                                       "when overspent.")
    burn_rate: float | None = Field(description="Current burn rate (first page tier's long window).")
    burning: bool | None
    time_to_exhaustion_seconds: float | None = Field(
        description="At the current burn rate; 0 when exhausted; null when not burning or without data.")
    firing: list[str] = Field(description="Tiers whose alert condition holds now.")

    @classmethod
    def fields_of(cls, g: GroupState) -> dict[str, Any]:
        return dict(labels=g.labels, has_data=g.has_data, sli=g.sli, sli_period=g.sli_period,
                    budget_remaining=g.budget_remaining, burn_rate=g.burn_rate, burning=g.burning,
                    time_to_exhaustion_seconds=g.time_to_exhaustion, firing=g.firing)

    @classmethod
    def of(cls, g: GroupState) -> GroupSummary:
        return cls(**cls.fields_of(g))


class GroupDetail(GroupSummary):
    windows: list[Window]
    tiers: list[TierStatus]

    @classmethod
    def of(cls, g: GroupState) -> GroupDetail:
        return cls(**cls.fields_of(g), windows=[Window.of(w) for w in g.windows],
                   tiers=[TierStatus.of(t) for t in g.tiers])


class SLOSummary(BaseModel):
    name: str = Field(description="The SLO id: service-name.", examples=["gateway-availability"])
    service: str
    slo: str
    description: str
    objective: float
    period: str
    period_seconds: int
    profile: str
    budget_remaining: float | None = Field(description="The worst group's budget remaining.")
    firing: list[str]
    groups: list[GroupSummary]

    @classmethod
    def fields_of(cls, s: SLOState) -> dict[str, Any]:
        return dict(name=s.slo.id, service=s.slo.service, slo=s.slo.name, description=s.slo.description,
                    objective=float(s.slo.objective), period=format_duration(s.slo.period),
                    period_seconds=s.slo.period, profile=s.profile.name, budget_remaining=s.budget_remaining,
                    firing=s.firing)

    @classmethod
    def of(cls, s: SLOState) -> SLOSummary:
        return cls(**cls.fields_of(s), groups=[GroupSummary.of(g) for g in s.groups])


class SLODetail(SLOSummary):
    groups: list[GroupDetail]  # type: ignore[assignment]

    @classmethod
    def of(cls, s: SLOState) -> SLODetail:
        return cls(**cls.fields_of(s), groups=[GroupDetail.of(g) for g in s.groups])


class SLOList(BaseModel):
    slos: list[SLOSummary] = Field(description="Worst budget remaining first; SLOs without data last.")


class HistorySeries(BaseModel):
    labels: dict[str, str]
    points: list[tuple[float, float | None]] = Field(description="(unix seconds, budget remaining or null).")


class BudgetHistory(BaseModel):
    name: str
    metric: str = Field(description="The recorded series the points come from.")
    start: float
    end: float
    step: int
    series: list[HistorySeries]


# --- backtest --------------------------------------------------------------------------------------

class RangeHistory(BaseModel):
    """History read from Prometheus: per-interval events from the SLO's recorded series."""

    model_config = ConfigDict(extra="forbid")
    start: datetime | None = Field(None, description="Default: `range` before `end`.")
    end: datetime | None = Field(None, description="Default: now.")
    range: str | None = Field(None, description="Length before `end` when `start` is not given; default the "
                                                "SLO period.", examples=["6h"])
    step: str | None = Field(None, description="Interval of the counts; must divide every tier window.",
                             examples=["1m"])


class BacktestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slo: str | None = Field(None, description="Name of a served SLO, or of one SLO in `spec`.",
                            examples=["gateway-availability"])
    spec: str | dict[str, Any] | None = Field(
        None, description="A spec document (Sloth prometheus/v1, OpenSLO v1 or enginewatch/v1), as YAML text "
                          "or a JSON object, instead of a served SLO.")
    policy: str | None = Field(None, description="Window profile to replay; default the SLO's own.",
                               examples=["google-30d"])
    compare: str | None = Field(None, description="A second profile to score side by side.",
                                examples=["pyrra-30d"])
    range: RangeHistory | None = Field(None, description="History from Prometheus.")
    csv: str | None = Field(None, description="History as CSV text: timestamp, total and errors or good "
                                              "(and slo, optional for one SLO).")

    @model_validator(mode="after")
    def _one_history(self) -> BacktestRequest:
        if self.slo is None and self.spec is None:
            raise ValueError("name an SLO (slo) or give a spec")
        if (self.range is None) == (self.csv is None):
            raise ValueError("give exactly one history: range (from Prometheus) or csv")
        return self


class TierScore(BaseModel):
    policy: str
    tier: str = Field(description="A tier, or `page`/`ticket` for any tier of that severity.")
    alerts: int
    precision: float | None
    recall: float | None
    detection_seconds: float | None
    reset_seconds: float | None
    budget_before_page: float | None = Field(description="Median share of the budget an incident spent "
                                                         "before the first page (page row only).")


class BacktestResult(BaseModel):
    slo: str
    policies: list[str]
    history_source: Literal["prometheus", "csv"]
    start: datetime
    end: datetime
    step_seconds: int
    intervals: int
    incidents: int = Field(description="Incidents found in the history (spans that spent ≥1% of the budget).")
    tiers: list[TierScore]


# --- release gate ------------------------------------------------------------------------------------

class GateCheck(BaseModel):
    slo: str
    labels: dict[str, str] = Field(description="The group's labels (e.g. the engine); empty: ungrouped SLO.")
    budget_remaining: float | None = Field(description="Share of the period's budget left; null: no data.")
    threshold: float = Field(description="The policy: releases need more budget left than this share.")
    allow: bool
    reason: str

    @classmethod
    def of(cls, c: GroupCheck) -> GateCheck:
        return cls(slo=c.slo, labels=c.labels, budget_remaining=c.budget_remaining, threshold=c.threshold,
                   allow=c.allow, reason=c.reason)


class GateDecision(BaseModel):
    allow: bool = Field(description="Whether a release may proceed.")
    decision: Literal["allow", "deny"]
    reason: str = Field(description="One sentence naming the SLO (and engine) that decided, and its budget.")
    slo: str | None = Field(description="The SLO asked about; null: every SLO covering the engine.")
    engine: str | None
    budget_remaining: float | None = Field(description="The deciding group's budget left; null: no data.")
    threshold: float | None = Field(description="The deciding group's policy threshold.")
    evaluated_at: datetime = Field(description="The time the budgets were read from Prometheus at.")
    checks: list[GateCheck] = Field(description="Every group the gate looked at.")

    @classmethod
    def of(cls, v: Verdict) -> GateDecision:
        d = v.deciding
        return cls(allow=v.allow, decision="allow" if v.allow else "deny", reason=v.reason, slo=v.slo,
                   engine=v.engine, budget_remaining=d.budget_remaining if d else None,
                   threshold=d.threshold if d else None,
                   evaluated_at=datetime.fromtimestamp(v.evaluated_at, tz=UTC),
                   checks=[GateCheck.of(c) for c in v.checks])
