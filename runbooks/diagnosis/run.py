"""Run a playbook's checks against live sources and gather one Diagnosis."""

from __future__ import annotations

from collections.abc import Collection

from foundation.gateway import GatewayAdminClient
from foundation.loki import LokiClient
from foundation.orchestrator import OrchestratorClient
from foundation.prometheus import PrometheusClient
from runbooks.diagnosis.context import CheckError, Context, DryContext, SourceDown
from runbooks.diagnosis.model import SOURCES, CheckRun, Diagnosis, MitigationCommand, Scope, Unavailable
from runbooks.playbooks.model import Playbook


def diagnose(playbook: Playbook, scope: Scope, prometheus: PrometheusClient | None,
             orchestrator: OrchestratorClient | None, steps: Collection[int] = (), *,
             gateway: GatewayAdminClient | None = None, loki: LokiClient | None = None) -> Diagnosis:
    """Every check runs, whatever the others found; a source that is down marks its checks unavailable."""
    return _run(playbook, scope, Context(scope, prometheus, orchestrator, gateway, loki), steps)


def diagnose_live(playbook: Playbook, scope: Scope, prometheus_url: str | None, orchestrator_url: str | None,
                  steps: Collection[int] = (), *, timeout_s: float = 10.0, gateway_url: str | None = None,
                  admin_token: str | None = None, loki_url: str | None = None) -> Diagnosis:
    """``diagnose`` against the sources at these URLs, with clients of its own (closed on return); a
    source without a URL is reported unavailable, like one that is down."""
    prometheus = PrometheusClient(prometheus_url, timeout=timeout_s) if prometheus_url else None
    orchestrator = OrchestratorClient(orchestrator_url) if orchestrator_url else None
    gateway = GatewayAdminClient(gateway_url, admin_token) if gateway_url and admin_token else None
    loki = LokiClient(loki_url, timeout=timeout_s) if loki_url else None
    try:
        return diagnose(playbook, scope, prometheus, orchestrator, steps, gateway=gateway, loki=loki)
    finally:
        for client in (prometheus, orchestrator, gateway, loki):
            if client is not None:
                client.close()


def check_runs(playbook: Playbook, scope: Scope) -> list[CheckRun]:
    """The steps of a playbook with the queries they run, without running them (for the runbook pages)."""
    return _run(playbook, scope, DryContext(scope), ()).checks


def _run(playbook: Playbook, scope: Scope, ctx: Context, steps: Collection[int]) -> Diagnosis:
    result = Diagnosis(playbook.alert, playbook.summary, scope)
    for number, check in enumerate(playbook.checks, 1):
        if steps and number not in steps:
            continue
        run = CheckRun(number, check.title, check.source)
        ctx.begin(run)
        try:
            result.findings += check.run(ctx)
        except SourceDown as e:
            run.status, run.error = "unavailable", e.error
        except CheckError as e:
            run.status, run.error = "error", str(e)
        result.checks.append(run)
    for source in SOURCES:
        down = ctx.down(source)
        if down is not None:
            missed = tuple(r.title for r in result.checks if r.source == source and r.status == "unavailable")
            result.unavailable.append(Unavailable(source, down.url, down.error, missed))
    facts = ctx.facts.as_dict()
    result.mitigations = [MitigationCommand(m.render(facts), m.why) for m in playbook.mitigations]
    return result
