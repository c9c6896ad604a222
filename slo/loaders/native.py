"""Our own spec format, ``enginewatch/v1``: Sloth's layout plus what Sloth cannot say.

Queries are a vector selector (``metric{label="value"}``: we build the rate and the sum) or a
``{{.window}}`` template; ``group_by`` splits an SLO per label value; periods, window profiles,
tier overrides, the low-traffic guard and the no-data alert are per SLO.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Any, Literal

from pydantic import Field

from slo.calendar import UNITS, Calendar
from slo.errors import SpecError
from slo.loaders import _maintenance
from slo.loaders._schema import Strict, duration, query, validate
from slo.model import (
    DEFAULT_PERIOD,
    SLO,
    Alerting,
    BudgetPolicy,
    EventsSLI,
    NoDataPolicy,
    RawSLI,
    TierOverride,
    percent_to_objective,
)
from slo.promql import TemplateQuery

VERSION = "enginewatch/v1"


class _SLI(Strict):
    bad: str | None = None
    good: str | None = None
    total: str | None = None
    error_ratio: str | None = None  # a {{.window}} template of an error ratio (Sloth's raw SLI)
    group_by: list[str] = []


class _Alert(Strict):
    disable: bool = False
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


class _Tier(Strict):
    disable: bool = False
    burn_rate: float | None = None
    budget_percent: float | None = None
    long_window: str | None = None
    short_window: str | None = None
    for_: str | None = Field(default=None, alias="for")
    severity: Literal["page", "ticket"] | None = None


class _NoData(Strict):
    disable: bool = False
    for_: str | None = Field(default=None, alias="for")
    zero_traffic: bool = True


class _Alerting(Strict):
    disable: bool = False
    name: str | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    page: _Alert = _Alert()
    ticket: _Alert = _Alert()
    tiers: dict[str, _Tier] = {}
    min_events: int | Literal["auto"] = "auto"
    no_data: _NoData = _NoData()
    runbook_url: str | None = None


class _Budget(Strict):
    low_percent: float | None = 25  # null: no budget-low alert
    release_min_percent: float = 0


class _SLO(Strict):
    name: str
    objective: float
    description: str = ""
    labels: dict[str, str] = {}
    period: str | None = None  # a rolling duration (30d), or month / week (calendar)
    timezone: str | None = None  # of a calendar period; default UTC
    profile: str | None = None
    sli: _SLI
    alerting: _Alerting = _Alerting()
    budget: _Budget = _Budget()
    maintenance: list[_maintenance.Window] = []


class _Spec(Strict):
    version: str
    service: str
    labels: dict[str, str] = {}
    period: str | None = None
    timezone: str | None = None
    profile: str | None = None
    maintenance: list[_maintenance.Window] = []  # shared by every SLO of the file
    slos: list[_SLO]


def load(doc: dict[str, Any], file: str) -> list[SLO]:
    spec = validate(_Spec, doc, file=file)
    out = []
    for i, raw in enumerate(spec.slos):
        try:
            slo = _to_model(spec, raw, file, f"slos[{i}]")
            slo = replace(slo, maintenance=_maintenance.windows(
                spec.maintenance, raw.maintenance, slo.sli.group_by, file=file, slo=raw.name, where=f"slos[{i}]"))
            out.append(slo.validate())
        except SpecError as exc:
            raise exc.located(file=file, slo=raw.name) from None
    return out


def _to_model(spec: _Spec, raw: _SLO, file: str, where: str) -> SLO:
    period, calendar = _period(raw.period or spec.period, raw.timezone or spec.timezone, file, raw.name, where)
    try:
        objective = percent_to_objective(raw.objective)
    except ValueError as exc:
        raise SpecError(str(exc), field=f"{where}.objective") from None
    return SLO(service=spec.service, name=raw.name, objective=objective, sli=_sli(raw, file, where),
               description=raw.description, period=period, calendar=calendar, profile=raw.profile or spec.profile,
               labels={**spec.labels, **raw.labels}, alerting=_alerting(raw, file, where), source=file,
               budget=_budget(raw.budget))


def _budget(b: _Budget) -> BudgetPolicy:
    low = None if b.low_percent is None else Fraction(str(b.low_percent)) / 100
    return BudgetPolicy(low=low, release_min=Fraction(str(b.release_min_percent)) / 100)


def _period(text: str | None, tz: str | None, file: str, slo: str, where: str) -> tuple[int, Calendar | None]:
    """(period seconds, calendar): ``month``/``week`` are calendar periods of their nominal length."""
    if text in UNITS:
        try:
            cal = Calendar(text, tz or "UTC")  # type: ignore[arg-type]
        except ValueError as exc:
            raise SpecError(str(exc), file=file, slo=slo, field=f"{where}.timezone") from None
        return cal.nominal, cal
    if tz is not None:
        raise SpecError("a timezone needs a calendar period (period: month or week)", file=file, slo=slo,
                        field=f"{where}.timezone")
    return (duration(text, file=file, slo=slo, field=f"{where}.period") if text else DEFAULT_PERIOD), None


def _sli(raw: _SLO, file: str, where: str) -> EventsSLI | RawSLI:
    s = raw.sli
    f = f"{where}.sli"
    if s.error_ratio is not None:
        if s.bad or s.good or s.total:
            raise SpecError("error_ratio excludes bad, good and total", field=f)
        return RawSLI(TemplateQuery(s.error_ratio), tuple(s.group_by))
    if (s.bad is None) == (s.good is None):
        raise SpecError("exactly one of bad and good is required (with total)", field=f)
    if s.total is None:
        raise SpecError("required field is missing", field=f"{f}.total")
    key, text = ("bad", s.bad) if s.bad is not None else ("good", s.good)
    assert text is not None
    events, by_e = query(text, file=file, slo=raw.name, field=f"{f}.{key}")
    total, by_t = query(s.total, file=file, slo=raw.name, field=f"{f}.total")
    group_by = tuple(s.group_by) or by_e or by_t or ()
    return EventsSLI(total=total, group_by=group_by, **{key: events})


def _alerting(raw: _SLO, file: str, where: str) -> Alerting | None:
    a = raw.alerting
    if a.disable:
        return None
    tiers = {}
    for name, t in a.tiers.items():
        f = f"{where}.alerting.tiers.{name}"
        tiers[name] = TierOverride(
            disable=t.disable,
            burn_rate=Fraction(str(t.burn_rate)) if t.burn_rate is not None else None,
            budget_share=Fraction(str(t.budget_percent)) / 100 if t.budget_percent is not None else None,
            long_window=duration(t.long_window, file=file, slo=raw.name, field=f"{f}.long_window")
            if t.long_window else None,
            short_window=duration(t.short_window, file=file, slo=raw.name, field=f"{f}.short_window")
            if t.short_window else None,
            for_=duration(t.for_, file=file, slo=raw.name, field=f"{f}.for") if t.for_ else None,
            severity=t.severity,
        )
    nd = a.no_data
    return Alerting(
        name=a.name, labels=dict(a.labels), annotations=dict(a.annotations),
        page_enabled=not a.page.disable, ticket_enabled=not a.ticket.disable,
        page_labels=dict(a.page.labels), page_annotations=dict(a.page.annotations),
        ticket_labels=dict(a.ticket.labels), ticket_annotations=dict(a.ticket.annotations),
        tiers=tiers, min_events=None if a.min_events == "auto" else a.min_events,
        no_data=NoDataPolicy(enabled=not nd.disable,
                             for_=duration(nd.for_, file=file, slo=raw.name, field=f"{where}.alerting.no_data.for")
                             if nd.for_ else None, zero_traffic=nd.zero_traffic),
        runbook_url=a.runbook_url,
    )


def _query_text(q: object) -> str:
    from slo.promql import SelectorQuery

    if isinstance(q, SelectorQuery):
        return q.selector.promql()
    assert isinstance(q, TemplateQuery)
    return q.template


def _pct(value: Fraction) -> float | int:
    pct = value * 100
    return int(pct) if pct.denominator == 1 else float(pct)


def render(slos: list[SLO]) -> list[dict[str, Any]]:
    """Documents of the native format for the SLOs, one per service (the inverse of ``load``)."""
    from foundation.durations import format_duration

    docs: dict[str, dict[str, Any]] = {}
    for slo in slos:
        doc = docs.setdefault(slo.service, {"version": VERSION, "service": slo.service, "slos": []})
        sli: dict[str, Any]
        if isinstance(slo.sli, RawSLI):
            sli = {"error_ratio": slo.sli.error_ratio.template}
        else:
            key = "bad" if slo.sli.bad is not None else "good"
            sli = {key: _query_text(slo.sli.bad or slo.sli.good), "total": _query_text(slo.sli.total)}
        if slo.sli.group_by:
            sli["group_by"] = list(slo.sli.group_by)
        item: dict[str, Any] = {"name": slo.name, "objective": _pct(slo.objective)}
        if slo.description:
            item["description"] = slo.description
        if slo.labels:
            item["labels"] = dict(slo.labels)
        if slo.calendar:
            item["period"] = slo.calendar.unit
            if slo.calendar.timezone != "UTC":
                item["timezone"] = slo.calendar.timezone
        elif slo.period != DEFAULT_PERIOD:
            item["period"] = format_duration(slo.period)
        if slo.profile:
            item["profile"] = slo.profile
        item["sli"] = sli
        if slo.maintenance:
            item["maintenance"] = [_maintenance.render(w) for w in slo.maintenance]
        if slo.budget != BudgetPolicy():
            low = slo.budget.low
            item["budget"] = {"low_percent": None if low is None else _pct(low),
                              "release_min_percent": _pct(slo.budget.release_min)}
        a = slo.alerting
        if a is None:
            item["alerting"] = {"disable": True}
        else:
            alerting: dict[str, Any] = {}
            if a.name:
                alerting["name"] = a.name
            if a.min_events is not None:
                alerting["min_events"] = a.min_events
            if not a.no_data.enabled:
                alerting["no_data"] = {"disable": True}
            elif not a.no_data.zero_traffic:
                alerting["no_data"] = {"zero_traffic": False}
            if alerting:
                item["alerting"] = alerting
        doc["slos"].append(item)
    return list(docs.values())
