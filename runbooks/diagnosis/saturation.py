"""Saturation of the query core: query slots, the queue in front of them, memory and CPU per node.

Slots are judged now and at their peak over the window (a subquery), so a burst that has just ended is
still named.
"""

from __future__ import annotations

import math

from alerts.profiles import PROFILES
from exporters import contract as c
from foundation.prometheus import Sample
from foundation.promql import by
from runbooks.diagnosis.context import Check, Context
from runbooks.diagnosis.model import Finding
from runbooks.diagnosis.words import count, pct

SLOTS = "Query slots in use per cluster, now and at peak"
QUEUE = "Queued queries per cluster and refusals as overloaded"
MEMORY = "Memory use per node against its limit, spills and oom errors"
CPU = "CPU use of the busiest nodes"

# The alerts' bounds: the diagnosis calls "saturated" what the alert fires on.
SLOTS_SATURATED = PROFILES["production"].slots_ratio
MEMORY_SATURATED = PROFILES["production"].memory_ratio
CLUSTER = ("engine", "cluster")
POD = ("engine", "cluster", "pod")


def _by_cluster(samples: list[Sample]) -> dict[tuple[str, str], float]:
    return {(s.labels.get("engine", ""), s.labels.get("cluster", "")): s.value for s in samples}


def _slots(ctx: Context) -> list[Finding]:
    running_q = f"sum {by(*CLUSTER)} ({ctx.sel(c.RUNNING_QUERIES, job=c.JOB_NODE)})"
    slots_q = f"sum {by(*CLUSTER)} ({ctx.sel(c.QUERY_SLOTS, job=c.JOB_NODE)})"
    running, slots = _by_cluster(ctx.promql(running_q)), _by_cluster(ctx.promql(slots_q))
    peak = _by_cluster(ctx.promql(f"max_over_time(({running_q} / {slots_q})[{ctx.scope.window}:])"))
    found = []
    for key in sorted(slots):
        engine, cluster = key
        total, busy, top = slots[key], running.get(key, 0.0), peak.get(key, math.nan)
        ratio = busy / total if total else math.nan
        text = f"cluster {cluster} of {engine}: {busy:.0f} of {total:.0f} query slots busy ({pct(ratio)})"
        if ratio >= SLOTS_SATURATED:
            found.append(Finding("problem", f"{text}: saturated, new queries queue", SLOTS, engine, cluster))
        elif top >= SLOTS_SATURATED:
            found.append(Finding("problem", f"{text}; saturated earlier: peak {pct(top)} of its slots in the last "
                                            f"{ctx.scope.window_text}", SLOTS, engine, cluster))
        else:
            found.append(Finding("ok", f"{text}, peak {pct(top)} in {ctx.scope.window_text}", SLOTS, engine, cluster))
    return found or [Finding("info", "no engine node reports query slots", SLOTS)]


def _queue(ctx: Context) -> list[Finding]:
    queued_sel = ctx.sel(c.QUEUED_QUERIES, job=c.JOB_NODE)
    queued = _by_cluster(ctx.promql(f"sum {by(*CLUSTER)} ({queued_sel})"))
    growth = _by_cluster(ctx.promql(f"sum {by(*CLUSTER)} (deriv({queued_sel}[1m]))"))
    capacity = _by_cluster(ctx.promql(f"sum {by(*CLUSTER)} ({ctx.sel(c.QUEUE_CAPACITY, job=c.JOB_NODE)})"))
    refused_sel = ctx.sel(c.QUERY_ERRORS, job=c.JOB_NODE, error_type="overloaded")
    refused = _by_cluster(ctx.promql(f"sum {by(*CLUSTER)} (increase({refused_sel}[{ctx.scope.window}])) > 0.5"))
    found = []
    for key, n in sorted(queued.items()):
        if n > 0:
            trend = ", and growing" if growth.get(key, 0) > 0 else ""
            found.append(Finding("problem", f"cluster {key[1]} of {key[0]}: {n:.0f} queries queued for a slot "
                                            f"(queue holds {capacity.get(key, 0):.0f}){trend}", QUEUE, *key))
    for key, n in sorted(refused.items()):
        found.append(Finding("problem", f"cluster {key[1]} of {key[0]} refused {count(n)} queries as overloaded "
                                        f"(queue full) in {ctx.scope.window_text}", QUEUE, *key))
    return found or [Finding("ok", "no queries wait in any queue and none were refused as overloaded", QUEUE)]


def _memory(ctx: Context) -> list[Finding]:
    used, limit = ctx.sel(c.MEMORY_USED, job=c.JOB_NODE), ctx.sel(c.MEMORY_LIMIT, job=c.JOB_NODE)
    ratios = ctx.promql(f"max {by(*POD)} ({used} / {limit})")
    w = ctx.scope.window
    spilled = ctx.promql(f"sum {by(*POD)} (increase({ctx.sel(c.SPILLED_BYTES, job=c.JOB_NODE)}[{w}])) > 0")
    oom = ctx.promql(f"sum {by(*POD)} (increase({ctx.sel(c.QUERY_ERRORS, job=c.JOB_NODE, error_type='oom')}[{w}]))"
                     " > 0.5")
    found = []
    ordered = sorted(ratios, key=lambda s: -s.value)
    for s in ordered:
        if s.value >= MEMORY_SATURATED:
            lb = s.labels
            found.append(Finding("problem", f"pod {lb.get('pod')} (cluster {lb.get('cluster')} of {lb.get('engine')}) "
                                            f"uses {pct(s.value)} of its memory limit", MEMORY,
                                 lb.get("engine"), lb.get("cluster"), lb.get("pod")))
    for s in spilled:
        found.append(Finding("info", f"pod {s.labels.get('pod')} spilled {s.value / 2**20:.0f} MiB to disk in "
                                     f"{ctx.scope.window_text}", MEMORY, s.labels.get("engine"),
                             pod=s.labels.get("pod")))
    for s in oom:
        found.append(Finding("problem", f"pod {s.labels.get('pod')} failed {count(s.value)} queries with oom in "
                                        f"{ctx.scope.window_text}", MEMORY, s.labels.get("engine"),
                             pod=s.labels.get("pod")))
    if ordered:
        ctx.facts.suggest("pod", ordered[0].labels.get("pod"))
        if not any(f.level == "problem" for f in found):
            top = ordered[0]
            found.append(Finding("ok", f"highest memory use: pod {top.labels.get('pod')} at {pct(top.value)} of its "
                                       "limit", MEMORY, top.labels.get("engine"), pod=top.labels.get("pod")))
    return found or [Finding("info", "no engine node reports its memory", MEMORY)]


def _cpu(ctx: Context) -> list[Finding]:
    samples = ctx.promql(f"topk(3, max {by(*POD)} ({ctx.sel(c.CPU_UTILIZATION, job=c.JOB_NODE)}))")
    busiest = sorted(samples, key=lambda s: -s.value)
    if not busiest:
        return [Finding("info", "no engine node reports its CPU use", CPU)]
    text = ", ".join(f"{s.labels.get('pod')} {pct(s.value)}" for s in busiest)
    return [Finding("info", f"busiest nodes by CPU (share of one core): {text}", CPU)]


slots = Check(SLOTS, "prometheus", _slots)
queue = Check(QUEUE, "prometheus", _queue)
memory = Check(MEMORY, "prometheus", _memory)
cpu = Check(CPU, "prometheus", _cpu)
