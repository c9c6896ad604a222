"""``GET /api/v1/slos/{id}/compliance``: the SLO's calendar-period history as JSON, CSV or markdown.

The numbers are ``slo.compliance``'s, read from the same Prometheus as the rest of the API; the tiers
and evaluation interval (the resolution of ``ALERTS``) are those of the profile the rules were
generated for.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import FastAPI, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from foundation.durations import format_duration
from slo import compliance
from slo.calendar import UNITS, parse_instant
from slo.service.live import LiveSource
from slo.service.source import BadRequest

FORMATS = ("json", "csv", "markdown")
MEDIA = {"csv": "text/csv; charset=utf-8", "markdown": "text/markdown; charset=utf-8"}


class PeriodRow(BaseModel):
    period: str = Field(examples=["2026-02", "2026-W07"])
    start: datetime
    end: datetime = Field(description="The period's end (exclusive), also for the running period.")
    until: datetime = Field(description="The end, or now for the running period: what was measured.")
    partial: bool = Field(description="The period is still running.")
    attainment: float | None = Field(description="Good share of the period's events (null: no events).")
    objective: float
    budget_spent: float | None = Field(description="Share of the period's error budget spent; above 1: overspent.")
    met: bool | None = Field(description="Attainment >= objective (so far, for the running period).")
    incidents: int | None = Field(description="Firing episodes of the SLO's burn-rate alerts that began in the "
                                              "period (ALERTS); null: the SLO has no alerts.")
    pages: int | None = Field(description="The same, page tiers only.")


class ComplianceReport(BaseModel):
    name: str
    unit: Literal["month", "week"]
    timezone: str
    objective: float
    budget_basis: str = Field(description="The period length burn rates are relative to (the nominal one for "
                                          "calendar periods: 30d, 7d).")
    periods: list[PeriodRow]


def _report(h: compliance.ComplianceHistory) -> ComplianceReport:
    rows = [PeriodRow(period=p.period.label, start=p.period.start, end=p.period.end, until=p.until, partial=p.partial,
                      attainment=p.attainment, objective=p.objective, budget_spent=p.budget_spent, met=p.met,
                      incidents=p.incidents, pages=p.pages) for p in h.periods]
    return ComplianceReport(name=h.slo.id, unit=h.calendar.unit, timezone=h.calendar.timezone,
                            objective=float(h.slo.objective), budget_basis=format_duration(h.slo.period),
                            periods=rows)


def parse_args(period: str | None, count: str, fmt: str, at: str | None) -> tuple[str | None, int, str, datetime]:
    if period is not None and period not in UNITS:
        raise BadRequest(f"period: {period!r} is not a calendar period; use month or week")
    try:
        n = int(count)
    except ValueError:
        raise BadRequest(f"count: {count!r} is not a whole number") from None
    if not 1 <= n <= compliance.MAX_COUNT:
        raise BadRequest(f"count: {n} is outside 1..{compliance.MAX_COUNT}")
    if fmt not in FORMATS:
        raise BadRequest(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    try:
        now = parse_instant(at) if at is not None else datetime.now(UTC)
    except ValueError as exc:
        raise BadRequest(f"at: {exc}") from None
    return period, n, fmt, now


PeriodArg = Annotated[str | None, Query(description="month or week; default the SLO's calendar unit, else month.")]
CountArg = Annotated[str, Query(description=f"How many periods, the running one last (1..{compliance.MAX_COUNT}).")]
AtArg = Annotated[str | None, Query(description="Report as of this time (RFC 3339 or Unix seconds); default now.")]


def register(app: FastAPI, source: LiveSource, api: str, responses: dict[int | str, dict[str, object]]) -> None:
    def answer(name: str, period: str | None, count: str, fmt: str, at: str | None) -> Response | ComplianceReport:
        unit, n, fmt, now = parse_args(period, count, fmt, at)
        slo = source.spec(name)
        if source.profile:  # forced with --profile
            r = source.resolve(slo)
            tiers, step = r.tiers, r.profile.interval
        else:
            tiers, step = source.call(lambda c: compliance.deployed(c, slo, now))
        cal = compliance.calendar_for(slo, unit)
        h = source.call(lambda c: compliance.history(c, slo, tiers, step, cal, n, now))
        if fmt == "json":
            return _report(h)
        text = compliance.to_csv(h) if fmt == "csv" else compliance.to_markdown(h)
        return Response(text, media_type=MEDIA[fmt])

    text_responses = {200: {"content": {"application/json": {}, **{m.split(";")[0]: {} for m in MEDIA.values()}}}}

    @app.get(f"{api}/slos/{{name}}/compliance", response_model=ComplianceReport,
             responses={**responses, **text_responses}, tags=["slos"])
    def get_compliance(name: str, period: PeriodArg = None, count: CountArg = "6",
                       format: Annotated[str, Query(description="json, csv or markdown.")] = "json",
                       at: AtArg = None) -> Response | ComplianceReport:
        """Per calendar month or ISO week: attainment, budget spent, objective met, incidents (firing
        episodes of the SLO's burn-rate alerts) — "which months used all the budget"."""
        return answer(name, period, count, format, at)

    @app.get(f"{api}/slos/{{name}}/compliance.csv", response_class=Response, responses=responses, tags=["slos"])
    def get_compliance_csv(name: str, period: PeriodArg = None, count: CountArg = "6", at: AtArg = None) -> Response:
        """The compliance history as CSV (one row per period, ratios 0–1, empty cells: no data)."""
        out = answer(name, period, count, "csv", at)
        assert isinstance(out, Response)
        return out

    @app.get(f"{api}/slos/{{name}}/compliance.md", response_class=Response, responses=responses, tags=["slos"])
    def get_compliance_markdown(name: str, period: PeriodArg = None, count: CountArg = "6",
                                at: AtArg = None) -> Response:
        """The compliance history as a markdown table, for reports and tickets."""
        out = answer(name, period, count, "markdown", at)
        assert isinstance(out, Response)
        return out
