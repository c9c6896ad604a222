"""Failover: a node dies or hangs; do clients notice, and how long does routing around it take?

- time to detect: from the fault to the platform's first sign of it (the orchestrator saw the
  process exit, or its readiness probe fail);
- time to fail over, per affected query: from the moment the fault hit the query (its start, or the
  fault if it was already running) to the start of the attempt that finally served it — detection,
  abandoned attempts and backoff, without the time the query spent executing; p99 over the affected
  queries (those retried, or failed, while the fault acted and shortly after);
- routing converged: when the last affected query was re-routed, from the fault;
- client-visible failures: platform errors of the engine in the same window;
- duplicate executions: node executions beyond the answers clients got (from reconciliation).

A step repeated K times gets one verdict: its percentiles pool the affected queries of the K faults,
each with its distribution-free confidence interval (chaos/stats.py). One fault hits about one query
here (a node holds about one in flight), so a p99 over one fault is one query's delay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from chaos.fault import Fault
from chaos.stats import DEFAULT_LEVEL, min_n_for_upper_bound, percentile
from chaos.verdicts.base import Criterion, Figures, Verdict, at_most
from chaos.verdicts.queries import final_attempt_start, platform_failed

DETECTION_EVENTS = frozenset({"pod_exited", "pod_unready", "pod_unhealthy"})
#: After the fault stops acting, retries still caused by it (breaker trials, stale routes) count for
#: this long.
SETTLE_S = 3.0


@dataclass(frozen=True)
class FailoverFigures(Figures):
    """Over every repetition of the step: the percentiles pool the affected queries of all of them,
    each ``*_ci_low_s``/``*_ci_high_s`` pair is the percentile's distribution-free confidence interval
    (chaos/stats.py; None: too few queries to bound that end)."""

    kind: ClassVar[str] = "failover"
    step: int
    action: str
    fault_ts: float  # the first repetition's
    pods: tuple[str, ...]
    in_flight_at_fault: int
    time_to_detect_s: float | None  # the slowest detected repetition's; None: the platform saw none
    affected_queries: int
    served_elsewhere: int
    client_failures: int
    time_to_failover_p50_s: float
    time_to_failover_p99_s: float
    time_to_failover_max_s: float
    routing_converged_s: float
    duplicate_executions: int | None  # None: no node counters to reconcile against
    repetitions: int = 1
    detected: int | None = None  # repetitions the platform saw (None: written before it was counted)
    ci_level: float = DEFAULT_LEVEL
    time_to_failover_p50_ci_low_s: float | None = None
    time_to_failover_p50_ci_high_s: float | None = None
    time_to_failover_p99_ci_low_s: float | None = None
    time_to_failover_p99_ci_high_s: float | None = None
    #: Each affected query's time to fail over: what a game day pools across experiments.
    delays_s: tuple[float, ...] = ()


def affected_queries(df: pd.DataFrame, fault: Fault, settle_s: float = SETTLE_S) -> pd.DataFrame:
    mine = df[(df["engine"] == fault.engine) & (df["end"] >= fault.ts) & (df["start"] <= fault.end_ts + settle_s)]
    return mine[(mine["attempts"] > 1) | platform_failed(mine)]


def failover_delays(df: pd.DataFrame, fault: Fault | Sequence[Fault]) -> pd.Series:
    return pooled(df, _faults(fault))[1]


def pooled(df: pd.DataFrame, faults: Sequence[Fault],
           settle_s: float = SETTLE_S) -> tuple[pd.DataFrame, pd.Series, list[Fault]]:
    """The affected queries of every repetition, each once; the time each lost to failover; the
    repetition that hit each (the latest one that could have: injected before the query was re-served,
    else the first whose window holds it). One fault: exactly its affected queries and delays."""
    parts = [(f, affected_queries(df, f, settle_s)) for f in faults]
    if not parts or all(not len(hit) for _, hit in parts):
        empty = df.iloc[0:0]
        return empty, pd.Series(dtype=float), []
    hit = pd.concat([h for _, h in parts if len(h)])
    hit = hit[~hit["id"].duplicated()]
    served_from = final_attempt_start(hit)
    windows: dict[str, list[Fault]] = {}
    for f, h in parts:
        for qid in h["id"]:
            windows.setdefault(qid, []).append(f)
    culprits = []
    for qid, t in zip(hit["id"], served_from, strict=True):
        held = windows[qid]
        before = [f for f in held if f.ts <= t]
        culprits.append(max(before, key=lambda f: f.ts) if before else min(held, key=lambda f: f.ts))
    fault_ts = np.array([f.ts for f in culprits], dtype=float)
    delays = (served_from - np.maximum(hit["start"].to_numpy(dtype=float), fault_ts)).clip(lower=0.0)
    return hit, delays, culprits


def time_to_detect(events: Sequence[Mapping[str, Any]], fault: Fault, until: float | None = None) -> float | None:
    """``until``: the next repetition's fault, whose own effects must not pass for this one's detection."""
    seen = [float(e["ts"]) for e in events
            if e.get("kind") in DETECTION_EVENTS and e.get("pod") in fault.pods and float(e["ts"]) >= fault.ts
            and (until is None or float(e["ts"]) < until)]
    return min(seen) - fault.ts if seen else None


def _faults(fault: Fault | Sequence[Fault]) -> list[Fault]:
    return [fault] if isinstance(fault, Fault) else sorted(fault, key=lambda f: f.ts)


def failover_verdict(df: pd.DataFrame, events: Sequence[Mapping[str, Any]], fault: Fault | Sequence[Fault], *,
                     goals: Mapping[str, float] | None = None, duplicates: int | None = None,
                     settle_s: float = SETTLE_S, level: float = DEFAULT_LEVEL) -> Verdict:
    """One fault, or every repetition of one step (pooled)."""
    goals = goals or {}
    faults = _faults(fault)
    first = faults[0]
    hit, delays, culprits = pooled(df, faults, settle_s)
    served = (hit["status"] == "ok").to_numpy(dtype=bool)
    moved = sum(1 for ok, pod, f in zip(served, hit["pod"], culprits, strict=True) if ok and pod not in f.pods)
    failures = int(platform_failed(hit).sum())
    detections = [time_to_detect(events, f, faults[i + 1].ts if i + 1 < len(faults) else None)
                  for i, f in enumerate(faults)]
    p50, p99 = percentile(delays, 0.5, level), percentile(delays, 0.99, level)
    converged = [t - f.ts for t, f in zip(final_attempt_start(hit), culprits, strict=True)]
    figures = FailoverFigures(
        step=first.step,
        action=first.action,
        fault_ts=first.ts,
        pods=tuple(dict.fromkeys(p for f in faults for p in f.pods)),
        in_flight_at_fault=int(sum(sum(f.in_flight.values()) for f in faults)),
        time_to_detect_s=max((d for d in detections if d is not None), default=None),
        affected_queries=int(len(hit)),
        served_elsewhere=int(moved),
        client_failures=failures,
        time_to_failover_p50_s=float(delays.quantile(0.5)) if len(delays) else 0.0,
        time_to_failover_p99_s=float(delays.quantile(0.99)) if len(delays) else 0.0,
        time_to_failover_max_s=float(delays.max()) if len(delays) else 0.0,
        routing_converged_s=float(max(converged)) if converged else 0.0,
        duplicate_executions=duplicates,
        repetitions=len(faults),
        detected=sum(d is not None for d in detections),
        ci_level=level,
        time_to_failover_p50_ci_low_s=p50.low, time_to_failover_p50_ci_high_s=p50.high,
        time_to_failover_p99_ci_low_s=p99.low, time_to_failover_p99_ci_high_s=p99.high,
        delays_s=tuple(round(float(d), 6) for d in delays),
    )
    notes = []
    for f in faults:
        if not f.injected:
            notes.append(f"fault not injected{_nth(f, faults)}: {f.error or 'no evidence'}")
    if figures.detected is not None and 0 < figures.detected < len(faults):
        notes.append(f"the platform saw {figures.detected} of {len(faults)} repetitions (pod_exited, pod_unready "
                     "or pod_unhealthy); time_to_detect_s is the slowest of those")
    if not len(hit):
        notes.append("no query was retried or failed: none was in flight on the faulted pods and the gateway "
                     "routed around them before any was sent there")
    elif len(faults) > 1 or len(hit) >= 20:
        notes.append(f"over {len(hit)} affected queries of {len(faults)} repetition(s): {p50.describe()}; "
                     f"{p99.describe()}" + ("" if p99.high is not None else
                                           f" (an upper bound on the p99 needs {min_n_for_upper_bound(0.99, level)})"))
    if failures:
        by = hit[platform_failed(hit)].groupby("error_type").size().to_dict()
        notes.append("client-visible failures by type: " + ", ".join(f"{k} {v}" for k, v in sorted(by.items())))
    injected = all(f.injected for f in faults)
    criteria = (
        Criterion("fault_injected", injected, "== True", injected),
        # Every repetition must have been seen: the slowest detection of some is no proof for all.
        at_most("time_to_detect_s", figures.time_to_detect_s if figures.detected == len(faults) else None,
                goals.get("time_to_detect_s")),
        at_most("time_to_failover_p99_s", figures.time_to_failover_p99_s, goals.get("time_to_failover_p99_s")),
        at_most("client_failures", failures, goals.get("client_failures")),
        at_most("duplicate_executions", duplicates, goals.get("duplicate_executions")),
    )
    times = f" x{len(faults)}" if len(faults) > 1 else ""
    return Verdict(f"step {first.step} {first.action}{times} {', '.join(figures.pods) or first.target}",
                   figures, criteria, tuple(notes))


def _nth(fault: Fault, faults: Sequence[Fault]) -> str:
    return f" (repetition {fault.repetition + 1})" if len(faults) > 1 else ""
