"""SLO diagnoses: how much error budget is left, and which signal of the contract burns it.

The budget comes from the series the SLO rules record (slo/series.py); the cause is read from the raw
golden signals, so a diagnosis works even where the SLO rules are not loaded.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace

from exporters import contract as c
from foundation.promql import Matcher, by
from runbooks.diagnosis.context import Check, Context
from runbooks.diagnosis.model import Finding, Level
from runbooks.diagnosis.words import count, pct
from slo import series
from slo.model import SLO, EventsSLI
from slo.promql import SelectorQuery

BUDGET = "Error budget left"
RATIO = "Platform error ratio of client queries, per engine"
LATENCY = "Share of successful client queries slower than the SLO threshold, per engine"
CORE = "Platform errors of the query core, per pod"
STARTS = "Engine starts, and those slower than the SLO threshold"


def budget(slo: SLO) -> Check:
    def run(ctx: Context) -> list[Finding]:
        scoped = ctx.scope.engine if "engine" in slo.sli.group_by else None
        narrower = (Matcher("engine", "=", scoped),) if scoped else ()
        query = series.select(series.BUDGET_REMAINING, slo.id, *narrower).promql()
        samples = [s for s in ctx.promql(query) if ctx.scope.covers(s.labels.get("engine"))]
        found = []
        for s in sorted(samples, key=lambda s: s.labels.get("engine", "")):
            engine = s.labels.get("engine")
            subject = f"SLO {slo.id}" + (f" for {engine}" if engine else "")
            if s.value <= 0:
                found.append(Finding("problem", f"{subject} has spent its whole error budget "
                                                f"({pct(-s.value)} over)", BUDGET, engine))
            else:
                low = float(slo.budget.low) if slo.budget.low is not None else 0.25
                level: Level = "problem" if s.value < low else "ok"
                found.append(Finding(level, f"{subject} has {pct(s.value)} of its error budget left", BUDGET, engine))
        return found or [Finding("info", f"Prometheus has no budget series for SLO {slo.id} (SLO rules not loaded "
                                         "there, or no traffic yet)", BUDGET)]

    return Check(BUDGET, "prometheus", run)


BUDGETS = "Error budget left, every SLO of the engine"


def budgets(slos: list[SLO]) -> Check:
    """Every SLO's budget left for the engine (SLOs not split by engine: all their groups), worst first."""
    def run(ctx: Context) -> list[Finding]:
        found = []
        for s in slos:
            for f in budget(s).run(ctx):
                if f.level != "info":
                    found.append(replace(f, check=BUDGETS))
        order = {"problem": 0, "ok": 1}
        return sorted(found, key=lambda f: order.get(f.level, 2)) or [
            Finding("info", "Prometheus has no budget series (SLO rules not loaded there, or no traffic yet)", BUDGETS)]

    return Check(BUDGETS, "prometheus", run)


def gateway_error_ratio(slo: SLO) -> Check:
    def run(ctx: Context) -> list[Finding]:
        w = ctx.scope.window
        errors = ctx.sel(c.GATEWAY_ERRORS, job=c.JOB_GATEWAY, error_type="~" + c.PLATFORM_ERRORS_RE)
        total = ctx.sel(c.GATEWAY_REQUEST_DURATION, "count", job=c.JOB_GATEWAY)
        samples = ctx.promql(f"sum {by('engine')} (increase({errors}[{w}]))\n/\n"
                             f"sum {by('engine')} (increase({total}[{w}]))")
        allowed = float(slo.error_budget)
        found = []
        for s in sorted(samples, key=lambda s: s.labels.get("engine", "")):
            engine, ratio = s.labels.get("engine"), s.value
            if math.isnan(ratio):
                continue
            level: Level = "problem" if ratio > allowed else "ok"
            found.append(Finding(level, f"{pct(ratio)} of client queries to {engine} failed with platform errors in "
                                        f"{ctx.scope.window_text} (the SLO allows {pct(allowed)})", RATIO, engine))
        return found or [Finding("info", f"no client queries with a known outcome in {ctx.scope.window_text}", RATIO)]

    return Check(RATIO, "prometheus", run)


def _engines_judged(slo: SLO) -> tuple[Matcher, ...]:
    """The SLO's own matchers on ``engine`` (which engines it judges), read from its total selector."""
    total = slo.sli.total if isinstance(slo.sli, EventsSLI) else None
    return tuple(m for m in total.selector.matchers if m.name == "engine") if isinstance(total, SelectorQuery) else ()


def gateway_latency(slo: SLO, threshold_s: float, le: str, kinds: tuple[str, ...]) -> Check:
    """The SLO's share of slow queries, of the query kinds it covers (``kinds``), for the engines it judges."""
    every_kind = set(kinds) == set(c.QUERY_KINDS)
    kind = {} if every_kind else {"kind": kinds[0] if len(kinds) == 1 else "~" + c.promql_set(kinds)}
    what = "" if every_kind else "/".join(kinds) + " "
    judged = _engines_judged(slo)

    def run(ctx: Context) -> list[Finding]:
        w = ctx.scope.window
        h = c.GATEWAY_REQUEST_DURATION
        fast = ctx.sel(h, "bucket", job=c.JOB_GATEWAY, status="ok", **kind, le=le)
        ok = ctx.sel(h, "count", job=c.JOB_GATEWAY, status="ok", **kind)
        slow = ctx.promql(f"1 - sum {by('engine')} (increase({fast}[{w}])) / sum {by('engine')} (increase({ok}[{w}]))")
        p99 = ctx.promql(f"histogram_quantile(0.99, sum {by('engine', 'le')} "
                         f"(rate({ctx.sel(h, 'bucket', job=c.JOB_GATEWAY, status='ok', **kind)}[{w}])))")
        p99_by = {s.labels.get("engine"): s.value for s in p99}
        allowed = float(slo.error_budget)
        found = []
        for s in sorted(slow, key=lambda s: s.labels.get("engine", "")):
            engine = s.labels.get("engine")
            if math.isnan(s.value) or not all(m.matches(s.labels) for m in judged):
                continue
            level: Level = "problem" if s.value > allowed else "ok"
            found.append(Finding(level, f"{pct(s.value)} of successful {what}queries to {engine} took "
                                        f"longer than {threshold_s:g} s in {ctx.scope.window_text} (the SLO allows "
                                        f"{pct(allowed)}); p99 {p99_by.get(engine, math.nan):.2f} s", LATENCY, engine))
        return found or [Finding("info", f"no successful {what}queries to the engines of SLO {slo.id} in "
                                         f"{ctx.scope.window_text}", LATENCY)]

    return Check(LATENCY, "prometheus", run)


def _core_errors(ctx: Context) -> list[Finding]:
    errors = ctx.sel(c.QUERY_ERRORS, job=c.JOB_NODE, error_type="~" + c.PLATFORM_ERRORS_RE)
    samples = ctx.promql(f"sum {by('engine', 'cluster', 'pod', 'error_type')} "
                         f"(increase({errors}[{ctx.scope.window}])) > 0.5")
    per_pod: dict[tuple[str, str, str], dict[str, int]] = defaultdict(dict)
    for s in samples:
        lb = s.labels
        per_pod[(lb.get("engine", ""), lb.get("cluster", ""), lb.get("pod", ""))][lb.get("error_type", "?")] = \
            count(s.value)
    found = []
    for (engine, cluster, pod), types in sorted(per_pod.items(), key=lambda kv: -sum(kv[1].values())):
        what = ", ".join(f"{t} {n}" for t, n in sorted(types.items(), key=lambda kv: -kv[1]))
        found.append(Finding("problem", f"pod {pod} (cluster {cluster} of {engine}) failed {sum(types.values())} "
                                        f"queries with platform errors in {ctx.scope.window_text}: {what}",
                             CORE, engine, cluster, pod))
        ctx.facts.suggest("pod", pod)
    return found or [Finding("ok", f"no platform errors in the query core in {ctx.scope.window_text}", CORE)]


core_errors = Check(CORE, "prometheus", _core_errors)


def starts(threshold_s: float, le: str) -> Check:
    def run(ctx: Context) -> list[Finding]:
        h = c.ENGINE_OPERATION_DURATION
        w = ctx.scope.window
        starts_sel = ctx.sel(h, "count", job=c.JOB_ORCHESTRATOR, operation="start")
        fast_sel = ctx.sel(h, "bucket", job=c.JOB_ORCHESTRATOR, operation="start", outcome="success", le=le)
        total = ctx.promql(f"sum {by('engine')} (increase({starts_sel}[{w}]))")
        good = ctx.promql(f"sum {by('engine')} (increase({fast_sel}[{w}]))")
        good_by = {s.labels.get("engine"): s.value for s in good}
        found = []
        for s in sorted(total, key=lambda s: s.labels.get("engine", "")):
            engine, n = s.labels.get("engine"), count(s.value)
            if not n:
                continue
            slow = n - count(good_by.get(engine, 0.0))
            level: Level = "problem" if slow else "ok"
            found.append(Finding(level, f"{engine}: {slow} of {n} starts in {ctx.scope.window_text} failed or took "
                                        f"longer than {threshold_s:g} s", STARTS, engine))
        return found or [Finding("info", f"no engine started in {ctx.scope.window_text}", STARTS)]

    return Check(STARTS, "prometheus", run)
