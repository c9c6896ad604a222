"""The gateway's view — what clients get: healthy upstreams, failovers, platform errors, breakers."""

from __future__ import annotations

from collections import defaultdict

from exporters import contract as c
from foundation.promql import by
from runbooks.diagnosis.context import Check, Context
from runbooks.diagnosis.model import Finding
from runbooks.diagnosis.words import count, listing, pct

UPSTREAMS = "Healthy upstream nodes at the gateway"
FAILOVERS = "Gateway failovers and where queries go now"
ERRORS = "Platform errors answered by the gateway"
BREAKERS = "Open circuit breakers at the gateway"
_BREAKER_NAMES = {v: k.replace("_", "-") for k, v in c.BREAKER_STATES.items()}


def _upstreams(ctx: Context) -> list[Finding]:
    samples = ctx.promql(ctx.sel(c.GATEWAY_UPSTREAM_UP, job=c.JOB_GATEWAY))
    nodes: dict[str, dict[str, list[tuple[str, bool]]]] = defaultdict(lambda: defaultdict(list))
    for s in samples:
        lb = s.labels
        nodes[lb.get("engine", "")][lb.get("cluster", "")].append((lb.get("node", ""), s.value >= 1))
    found = []
    for engine, clusters in sorted(nodes.items()):
        healthy = [cl for cl, ns in sorted(clusters.items()) if any(up for _, up in ns)]
        for cluster, ns in sorted(clusters.items()):
            down = [n for n, up in ns if not up]
            if down:
                found.append(Finding("problem", f"gateway: {len(ns) - len(down)} of {len(ns)} nodes of cluster "
                                                f"{cluster} of {engine} are healthy ({listing(down)} ejected or "
                                                "unready)", UPSTREAMS, engine, cluster))
        if not healthy:
            found.append(Finding("problem", f"gateway has no healthy node for {engine}: its queries fail",
                                 UPSTREAMS, engine))
        elif not any(f.engine == engine for f in found):
            found.append(Finding("ok", f"gateway sees every node of {engine} healthy in clusters "
                                       f"{listing(sorted(clusters))}", UPSTREAMS, engine))
        if engine == ctx.facts.get("engine") or ctx.scope.engine is None:
            ctx.facts.suggest("healthy_clusters", ",".join(healthy))
    if ctx.scope.engine and ctx.scope.engine not in nodes:
        found.append(Finding("problem", f"the gateway reports no upstream node at all for {ctx.scope.engine}",
                             UPSTREAMS, ctx.scope.engine))
    if not found:
        found.append(Finding("info", "the gateway reports no upstream nodes", UPSTREAMS))
    return found


def _failovers(ctx: Context) -> list[Finding]:
    w = ctx.scope.window
    failovers = ctx.promql(f"sum {by('engine')} (increase({ctx.sel(c.GATEWAY_FAILOVERS, job=c.JOB_GATEWAY)}[{w}]))")
    retries = ctx.promql(f"sum {by('engine')} (increase({ctx.sel(c.GATEWAY_RETRIES, job=c.JOB_GATEWAY)}[{w}]))")
    ok = ctx.sel(c.GATEWAY_UPSTREAM_REQUESTS, job=c.JOB_GATEWAY, outcome="ok")
    recent = ctx.promql(f"sum {by('engine', 'cluster')} (increase({ok}[1m])) > 0")
    retried = {s.labels.get("engine"): count(s.value) for s in retries}
    served: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for s in recent:
        served[s.labels.get("engine", "")].append((s.labels.get("cluster", ""), s.value))
    found = []
    for s in sorted(failovers, key=lambda s: s.labels.get("engine", "")):
        engine, n = s.labels.get("engine", ""), count(s.value)
        total = sum(v for _, v in served[engine])
        to = ", ".join(f"{cl} ({pct(v / total)})" for cl, v in sorted(served[engine])) if total else "nowhere"
        if n:
            found.append(Finding("problem", f"gateway failed over {n} queries of {engine} in {ctx.scope.window_text} "
                                            f"({retried.get(engine, 0)} retries); in the last minute queries went "
                                            f"to {to}", FAILOVERS, engine))
    if not found:
        found.append(Finding("ok", f"no gateway failovers in {ctx.scope.window_text}", FAILOVERS))
    return found


def _errors(ctx: Context) -> list[Finding]:
    errors = ctx.sel(c.GATEWAY_ERRORS, job=c.JOB_GATEWAY, error_type="~" + c.PLATFORM_ERRORS_RE)
    samples = ctx.promql(f"sum {by('engine', 'error_type')} (increase({errors}[{ctx.scope.window}])) > 0.5")
    per_engine: dict[str, dict[str, int]] = defaultdict(dict)
    for s in samples:
        per_engine[s.labels.get("engine", "")][s.labels.get("error_type", "?")] = count(s.value)
    found = [Finding("problem", f"gateway answered {sum(types.values())} queries of {engine} with platform errors "
                                f"in {ctx.scope.window_text}: "
                                + ", ".join(f"{t} {n}" for t, n in sorted(types.items(), key=lambda kv: -kv[1])),
                     ERRORS, engine)
             for engine, types in sorted(per_engine.items())]
    return found or [Finding("ok", f"no platform errors at the gateway in {ctx.scope.window_text}", ERRORS)]


def _breakers(ctx: Context) -> list[Finding]:
    samples = ctx.promql(f"{ctx.sel(c.GATEWAY_BREAKER_STATE, job=c.JOB_GATEWAY)} > 0")
    found = [Finding("problem", f"circuit breaker of node {s.labels.get('cluster')}/{s.labels.get('node')} of "
                                f"{s.labels.get('engine')} is {_BREAKER_NAMES.get(int(s.value), s.value)}",
                     BREAKERS, s.labels.get("engine"), s.labels.get("cluster"))
             for s in sorted(samples, key=lambda s: sorted(s.labels.items()))]
    return found or [Finding("ok", "every circuit breaker at the gateway is closed", BREAKERS)]


upstreams = Check(UPSTREAMS, "prometheus", _upstreams)
failovers = Check(FAILOVERS, "prometheus", _failovers)
errors = Check(ERRORS, "prometheus", _errors)
breakers = Check(BREAKERS, "prometheus", _breakers)
