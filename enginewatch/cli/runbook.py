"""`enginewatch runbook ALERTNAME`: the alert's diagnosis against the live platform, then what to run.

Exit codes: 0 the diagnosis ran in full, 1 a source (Prometheus, orchestrator) could not be reached and
some steps were not checked (they are listed), 2 unknown alert or bad arguments.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from enginewatch.cli import options
from enginewatch.cli.console import console, fail
from foundation import runstate

AlertArg = Annotated[str, typer.Argument(help="Alert name, e.g. EngineNodeDown", show_default=False)]


def _urls(prometheus: str | None, orchestrator: str | None) -> tuple[str | None, str | None]:
    if prometheus and orchestrator:
        return prometheus, orchestrator
    try:
        state = runstate.load()
    except runstate.NotRunning:
        return prometheus, orchestrator  # the diagnosis then says which source it could not reach
    return prometheus or state.prometheus or None, orchestrator or state.orchestrator or None


def runbook(
    alert: AlertArg,
    engine: Annotated[str | None, typer.Option("--engine", "-e", help="Engine the alert is about")] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="Narrow to one cluster")] = None,
    prometheus: Annotated[str | None, typer.Option(help="Prometheus URL (default: the running stack's)")] = None,
    orchestrator: Annotated[str | None, typer.Option(help="Orchestrator URL (default: the running stack's)")] = None,
    window: Annotated[str, typer.Option(help="How far back to look, e.g. 10m, 1h30m")] = "10m",
    step: Annotated[list[int] | None, typer.Option("--step", help="Run only this step (repeatable)")] = None,
    show_queries: Annotated[bool, typer.Option("--show-queries", help="Print each step's PromQL")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable diagnosis")] = False,
) -> None:
    """Diagnose ALERTNAME against the live Prometheus and orchestrator; print findings and mitigations."""
    from runbooks.diagnosis import Scope, diagnose_live
    from runbooks.playbooks import get, known_alerts

    book = get(alert)
    if book is None:
        fail(f"unknown alert {alert!r}; known alerts: {', '.join(known_alerts())}")
    if step and not set(step) <= set(range(1, len(book.checks) + 1)):
        fail(f"{alert} has steps 1 to {len(book.checks)}")
    prom_url, orch_url = _urls(prometheus, orchestrator)
    scope = Scope(engine=engine, cluster=cluster, window_s=options.whole_seconds(window, "--window"))
    try:  # the query history and the logs: only a running stack says where they are
        state: runstate.RunState | None = runstate.load()
    except runstate.NotRunning:
        state = None
    result = diagnose_live(book, scope, prom_url, orch_url, steps=step or (),
                           gateway_url=state.gateway if state else None,
                           admin_token=state.admin_token if state else None, loki_url=state.loki if state else None)
    if as_json:
        # Plain print: machines read this, and a console may wrap or colour what it prints.
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        from runbooks.report import text

        console.print(text(result, show_queries), markup=False, highlight=False, end="", soft_wrap=True)
    if not result.complete:
        raise typer.Exit(1)
