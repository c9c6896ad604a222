"""Prometheus' view of the engine nodes: which pods answer their scrapes, and how often pods restarted.

A pod that the orchestrator runs but Prometheus cannot scrape is either hung (its target exists and
times out: ``up == 0``) or gone (no target: killed, exited, in restart backoff).
"""

from __future__ import annotations

from collections import defaultdict

from exporters import contract as c
from foundation.promql import UP, by, on, sel
from runbooks.diagnosis.context import Check, Context
from runbooks.diagnosis.model import Finding
from runbooks.diagnosis.words import count, times

SCRAPES = "Node scrapes: which pods Prometheus cannot reach"
RESTARTS = "Pod restarts counted by Prometheus, by reason"
POD = ("engine", "cluster", "pod")


def _scope_labels(ctx: Context) -> dict[str, str]:
    return {k: v for k, v in (("engine", ctx.scope.engine), ("cluster", ctx.scope.cluster)) if v}


def _scrapes(ctx: Context) -> list[Finding]:
    targets = ctx.promql(sel(UP, job=c.JOB_NODE, **_scope_labels(ctx)))
    should_run = f"max {by(*POD)} ({ctx.sel(c.ENGINE_POD_READY, job=c.JOB_ORCHESTRATOR)})"
    scraped = f"max {by(*POD)} ({sel(UP, job=c.JOB_NODE, **_scope_labels(ctx))} == 1)"
    missing = ctx.promql(f"{should_run} unless {on(*POD)} {scraped}")
    found = []
    hung = {s.labels.get("pod") for s in targets if s.value == 0}
    for s in sorted(targets, key=lambda s: s.labels.get("pod", "")):
        if s.value == 0:
            lb = s.labels
            found.append(Finding("problem", f"pod {lb.get('pod')} (cluster {lb.get('cluster')} of {lb.get('engine')}) "
                                            "does not answer Prometheus' scrapes: it is hung, overloaded or still "
                                            "starting",
                                 SCRAPES, lb.get("engine"), lb.get("cluster"), lb.get("pod")))
            ctx.facts.suggest("pod", lb.get("pod"))
    for s in sorted(missing, key=lambda s: s.labels.get("pod", "")):
        lb = s.labels
        if lb.get("pod") in hung:
            continue
        found.append(Finding("problem", f"pod {lb.get('pod')} (cluster {lb.get('cluster')} of {lb.get('engine')}) "
                                        "has no scrape target although the orchestrator runs it: its node is down "
                                        "or restarting", SCRAPES, lb.get("engine"), lb.get("cluster"), lb.get("pod")))
        ctx.facts.suggest("pod", lb.get("pod"))
    if not found:
        found.append(Finding("ok", f"all {len(targets)} node targets answer Prometheus' scrapes", SCRAPES))
    return found


def _restarts(ctx: Context) -> list[Finding]:
    restarts = ctx.sel(c.ENGINE_POD_RESTARTS, job=c.JOB_ORCHESTRATOR)
    samples = ctx.promql(f"sum {by(*POD, 'reason')} (increase({restarts}[{ctx.scope.window}])) > 0.5")
    by_pod: dict[tuple[str, str, str], dict[str, int]] = defaultdict(dict)
    for s in samples:
        lb = s.labels
        by_pod[(lb.get("engine", ""), lb.get("cluster", ""), lb.get("pod", ""))][lb.get("reason", "?")] = count(s.value)
    found = []
    for (engine, cluster, pod), reasons in sorted(by_pod.items(), key=lambda kv: -sum(kv[1].values())):
        total = sum(reasons.values())
        why = ", ".join(f"{r} {n}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
        found.append(Finding("problem", f"Prometheus counts pod {pod} (cluster {cluster} of {engine}) restarted "
                                        f"{times(total)} in {ctx.scope.window_text} ({why})",
                             RESTARTS, engine, cluster, pod))
        ctx.facts.suggest("pod", pod)
    if not found:
        found.append(Finding("ok", f"Prometheus counts no pod restarts in {ctx.scope.window_text}", RESTARTS))
    return found


scrapes = Check(SCRAPES, "prometheus", _scrapes)
restarts = Check(RESTARTS, "prometheus", _restarts)
