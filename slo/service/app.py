"""The FastAPI application: JSON API, status pages, /metrics, and how every failure is answered.

Failures a user can act on get a status and one sentence, never a stack trace: 404 for an unknown
SLO (with the known ones), 400/422 for a bad request, 503 with Prometheus's own error when the data
source does not answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from slo import rules
from slo.errors import SpecError
from slo.loaders import load_paths
from slo.model import SLO
from slo.service import compliance_api, gate, maintenance, replay, views
from slo.service.html import esc, layout
from slo.service.live import LiveSource
from slo.service.metrics import CONTENT_TYPE, MetricsMiddleware, ServiceMetrics
from slo.service.models import (
    BacktestRequest,
    BacktestResult,
    BudgetHistory,
    ErrorBody,
    GateDecision,
    HistorySeries,
    SLODetail,
    SLOList,
    SLOSummary,
)
from slo.service.source import BadRequest, DataSourceDown, PrometheusLocator, UnknownSLO, duration_arg, sort_key
from slo.specs import platform_slos

API = "/api/v1"
ERRORS = {404: {"model": ErrorBody, "description": "Unknown SLO; the known ones are listed."},
          503: {"model": ErrorBody, "description": "Prometheus did not answer; its error is in data_source."}}
EngineArg = Annotated[str | None, Query(description="Only this engine's group of SLOs split by engine.",
                                        examples=["sales"])]
BAD = {400: {"model": ErrorBody, "description": "The request cannot be answered as asked."},
       422: {"model": ErrorBody, "description": "The request does not match the schema."}}


@dataclass(frozen=True)
class ServiceConfig:
    prometheus: str | None = None
    prometheus_file: Path | None = None  # re-read at every request
    specs: list[Path] = field(default_factory=list)  # empty: the platform's SLOs
    profile: str | None = None  # None: the profile the rules in Prometheus were generated for
    alertmanager: str | None = None  # where maintenance windows create their silences; None: no silences


def load_slos(config: ServiceConfig) -> list[SLO]:
    """The SLOs to serve, checked the way the rule generator checks them (tiers that cannot fire,
    reserved labels): a spec the rules refuse is refused at start, not on the first request."""
    slos = load_paths(config.specs) if config.specs else platform_slos()
    rules.generate(slos, rules.Options(profile=config.profile))
    return slos


def _error(status: int, message: str, known: list[str] | None = None, data_source: str | None = None) -> JSONResponse:
    body = ErrorBody(error=message, known=known, data_source=data_source)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


def _seconds(value: str | None, what: str) -> int | None:
    return None if value is None else duration_arg(value, what)


def create_app(config: ServiceConfig, slos: list[SLO] | None = None) -> FastAPI:
    metrics = ServiceMetrics()
    locator = PrometheusLocator(config.prometheus, config.prometheus_file)
    source = LiveSource(slos if slos is not None else load_slos(config), locator, config.profile,
                        on_error=metrics.datasource_error)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        source.close()
        windows.close()

    app = FastAPI(
        title="enginewatch SLO service", version="1", lifespan=lifespan,
        # FastAPI's interactive docs pages load their script from a CDN; the schema itself is served.
        docs_url=None, redoc_url=None,
        description="Live error budgets of the engine platform's SLOs, read from Prometheus, and backtests "
                    "of alert policies on history. `null` always means no data.",
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.exception_handler(UnknownSLO)
    async def _unknown(_r: Request, exc: UnknownSLO) -> JSONResponse:
        return _error(404, str(exc), known=exc.known)

    @app.exception_handler(DataSourceDown)
    async def _down(_r: Request, exc: DataSourceDown) -> JSONResponse:
        return _error(503, "the data source (Prometheus) did not answer", data_source=str(exc))

    @app.exception_handler(BadRequest)
    async def _bad(_r: Request, exc: BadRequest) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_message(exc))

    @app.exception_handler(SpecError)
    async def _spec(_r: Request, exc: SpecError) -> JSONResponse:
        # A served spec that cannot be evaluated under the profile the deployed rules use.
        return _error(500, str(exc))

    @app.exception_handler(Exception)
    async def _internal(_r: Request, exc: Exception) -> JSONResponse:
        # The traceback goes to the service's log; the client gets the kind of failure only.
        return _error(500, f"internal error ({type(exc).__name__}); see the SLO service's log")

    # --- JSON API ------------------------------------------------------------------------------------

    @app.get(f"{API}/slos", response_model=SLOList, responses={503: ERRORS[503]}, tags=["slos"])
    def list_slos() -> SLOList:
        """Every SLO with its budget remaining, worst first (SLOs without data last)."""
        states = sorted(source.states(), key=lambda s: (sort_key(s.budget_remaining), s.slo.id))
        return SLOList(slos=[SLOSummary.of(s) for s in states])

    @app.get(f"{API}/slos/{{name}}", response_model=SLODetail, responses=ERRORS, tags=["slos"])
    def get_slo(name: str) -> SLODetail:
        """SLI now, per-window error ratio and burn rate, per-tier thresholds and state, budget remaining,
        time to exhaustion: one entry per group of the SLO."""
        return SLODetail.of(source.state(name))

    @app.get(f"{API}/slos/{{name}}/history", response_model=BudgetHistory, responses={**ERRORS, **BAD},
             tags=["slos"])
    def get_history(
        name: str,
        range: Annotated[str | None, Query(description="How far back, e.g. 6h; default the SLO period.")] = None,
        step: Annotated[str | None, Query(description="Resolution, e.g. 1m; default about 300 points.")] = None,
    ) -> BudgetHistory:
        """The error-budget burn-down: budget remaining over time, from Prometheus range queries."""
        burn = source.burn_down(name, _seconds(range, "range"), _seconds(step, "step"))
        return BudgetHistory(name=name, metric="slo:error_budget_remaining:ratio", start=burn.start, end=burn.end,
                             step=burn.step, series=[HistorySeries(labels=s.labels, points=s.points)
                                                     for s in burn.series])

    @app.get(f"{API}/slos/{{name}}/gate", response_model=GateDecision, responses=ERRORS, tags=["gate"])
    def get_gate(name: str, engine: EngineArg = None) -> GateDecision:
        """The error-budget policy for one SLO: may a release proceed? Denied when a group's budget left is at
        or below the SLO's release threshold (``budget.release_min_percent``, 0 by default); 200 either way."""
        return GateDecision.of(gate.gate(source, slo=name, engine=engine))

    @app.get(f"{API}/gate", response_model=GateDecision, responses={503: ERRORS[503]}, tags=["gate"])
    def get_release_gate(engine: EngineArg = None) -> GateDecision:
        """The error-budget policy over every SLO that covers the engine (SLOs split by engine: its group; SLOs
        that are not: all their groups), or over every SLO without ``engine``. What the orchestrator asks
        before an upgrade."""
        return GateDecision.of(gate.gate(source, engine=engine))

    @app.post(f"{API}/backtest", response_model=BacktestResult, responses={**ERRORS, **BAD}, tags=["backtest"])
    def backtest(request: BacktestRequest) -> BacktestResult:
        """Replay an alert policy on history and score each tier: alerts, precision, recall, detection and
        reset time. History is a Prometheus range or CSV of per-interval counts."""
        return replay.run(request, source)

    @app.post(f"{API}/backtest/csv", response_model=BacktestResult, responses={**ERRORS, **BAD},
              tags=["backtest"], openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {
                  "schema": {"type": "string"},
                  "example": "timestamp,total,errors\n2026-01-01T00:01:00Z,600,0\n2026-01-01T00:02:00Z,600,3\n"}}}})
    async def backtest_csv(
        request: Request,
        slo: Annotated[str, Query(description="A served SLO.")],
        policy: Annotated[str | None, Query(description="Window profile to replay.")] = None,
        compare: Annotated[str | None, Query(description="A second profile to score side by side.")] = None,
    ) -> BacktestResult:
        """The same backtest with the CSV uploaded as the request body (``Content-Type: text/csv``)."""
        from starlette.concurrency import run_in_threadpool

        text = (await request.body()).decode("utf-8", errors="replace")
        body = BacktestRequest(slo=slo, policy=policy, compare=compare, csv=text)
        return await run_in_threadpool(replay.run, body, source)

    compliance_api.register(app, source, API, {**ERRORS, **BAD})

    # --- pages ---------------------------------------------------------------------------------------

    def page(title: str, body: str, status: int = 200, ok: bool | None = True) -> HTMLResponse:
        try:
            where = locator.url()
        except DataSourceDown:
            where = "(URL file unreadable)"
        return HTMLResponse(layout(title, body, source=where, source_ok=ok), status_code=status)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def status_page() -> HTMLResponse:
        try:
            states = source.states()
        except DataSourceDown as exc:
            return page("SLO status — data source down", views.catalog_page(source.slos, str(exc)), 503, ok=False)
        return page("SLO status", views.status_page(states))

    @app.get("/slo/{name}", response_class=HTMLResponse, include_in_schema=False)
    def detail_page(name: str, range: str | None = None) -> HTMLResponse:
        try:
            slo = source.spec(name)
        except UnknownSLO as exc:
            return page("Unknown SLO", views.not_found_page(name, exc.known), 404, ok=None)
        try:
            range_s = _seconds(range, "range")
            state = source.state(name)
            burn = source.burn_down(name, range_s)
        except DataSourceDown as exc:
            return page(f"{name} — data source down", views.detail_unavailable(slo, str(exc)), 503, ok=False)
        except BadRequest as exc:
            return page("Bad request", f"<h1>Bad request</h1><p>{esc(exc)}</p>", 400, ok=None)
        body = views.detail_page(state, burn.series, burn.start, burn.end, range_s or state.slo.period)
        return page(f"{name} — SLO", body)

    # --- operations ----------------------------------------------------------------------------------

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        # Liveness only: a Prometheus outage is reported by the API, it does not make us unhealthy.
        return {"status": "ok"}

    windows = maintenance.install(app, source.slos, config.alertmanager, metrics.registry)
    app.state.source = source
    app.state.metrics = metrics
    return app


__all__ = ["ServiceConfig", "create_app", "load_slos"]
