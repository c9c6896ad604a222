"""The control plane as Prometheus recorded it: engine states, operations and drains over the window."""

from __future__ import annotations

from collections import defaultdict

from exporters import contract as c
from foundation.promql import by
from runbooks.diagnosis.context import Check, Context
from runbooks.diagnosis.model import Finding, Level
from runbooks.diagnosis.words import count

STATE = "Engine lifecycle state"
OPERATIONS = "Orchestrator operations and their outcomes, counted by Prometheus"
DRAINS = "Pod drains that did not finish within the grace period"


def _state(ctx: Context) -> list[Finding]:
    samples = ctx.promql(f"{ctx.sel(c.ENGINE_STATE, job=c.JOB_ORCHESTRATOR)} == 1")
    found = []
    for s in sorted(samples, key=lambda s: s.labels.get("engine", "")):
        engine, state = s.labels.get("engine"), s.labels.get("state")
        level: Level = "ok" if state == "RUNNING" else "problem"
        found.append(Finding(level, f"engine {engine} is {state}", STATE, engine))
    return found or [Finding("info", "Prometheus has no engine state (is the orchestrator scraped?)", STATE)]


def _operations(ctx: Context) -> list[Finding]:
    counts = ctx.sel(c.ENGINE_OPERATION_DURATION, "count", job=c.JOB_ORCHESTRATOR)
    samples = ctx.promql(f"sum {by('engine', 'operation', 'outcome')} (increase({counts}[{ctx.scope.window}])) > 0.5")
    per_engine: dict[str, list[str]] = defaultdict(list)
    found = []
    for s in sorted(samples, key=lambda s: sorted(s.labels.items())):
        lb, n = s.labels, count(s.value)
        per_engine[lb.get("engine", "")].append(f"{lb.get('operation')} {lb.get('outcome')} x{n}")
        if lb.get("outcome") == "failure":
            found.append(Finding("problem", f"{n} {lb.get('operation')} operation(s) on {lb.get('engine')} failed in "
                                            f"{ctx.scope.window_text}", OPERATIONS, lb.get("engine")))
    for engine, ops in sorted(per_engine.items()):
        found.append(Finding("info", f"operations on {engine} in {ctx.scope.window_text}: {', '.join(ops)}",
                             OPERATIONS, engine))
    return found or [Finding("ok", f"no orchestrator operations in {ctx.scope.window_text}", OPERATIONS)]


def _drains(ctx: Context) -> list[Finding]:
    drains = ctx.sel(c.ENGINE_POD_DRAINS, job=c.JOB_ORCHESTRATOR, outcome="failure")
    samples = ctx.promql(f"sum {by('engine', 'cluster')} (increase({drains}[{ctx.scope.window}])) > 0.5")
    found = [Finding("problem", f"{count(s.value)} drains in cluster {s.labels.get('cluster')} of "
                                f"{s.labels.get('engine')} ran out of grace: the pods were killed with queries in "
                                "flight", DRAINS, s.labels.get("engine"), s.labels.get("cluster"))
             for s in samples]
    return found or [Finding("ok", f"every drain in {ctx.scope.window_text} finished within its grace period",
                             DRAINS)]


state = Check(STATE, "prometheus", _state)
operations = Check(OPERATIONS, "prometheus", _operations)
drains = Check(DRAINS, "prometheus", _drains)
