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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from chaos.fault import Fault
from chaos.verdicts.base import Criterion, Figures, Verdict, at_most
from chaos.verdicts.queries import final_attempt_start, platform_failed

DETECTION_EVENTS = frozenset({"pod_exited", "pod_unready", "pod_unhealthy"})
#: After the fault stops acting, retries still caused by it (breaker trials, stale routes) count for
#: this long.
SETTLE_S = 3.0


@dataclass(frozen=True)
class FailoverFigures(Figures):
    kind: ClassVar[str] = "failover"
    step: int
    action: str
    fault_ts: float
    pods: tuple[str, ...]
    in_flight_at_fault: int
    time_to_detect_s: float | None  # None: the platform never saw the fault
    affected_queries: int
    served_elsewhere: int
    client_failures: int
    time_to_failover_p50_s: float
    time_to_failover_p99_s: float
    time_to_failover_max_s: float
    routing_converged_s: float
    duplicate_executions: int | None  # None: no node counters to reconcile against


def affected_queries(df: pd.DataFrame, fault: Fault, settle_s: float = SETTLE_S) -> pd.DataFrame:
    mine = df[(df["engine"] == fault.engine) & (df["end"] >= fault.ts) & (df["start"] <= fault.end_ts + settle_s)]
    return mine[(mine["attempts"] > 1) | platform_failed(mine)]


def failover_delays(df: pd.DataFrame, fault: Fault) -> pd.Series:
    hit = affected_queries(df, fault)
    return (final_attempt_start(hit) - np.maximum(hit["start"], fault.ts)).clip(lower=0.0)


def time_to_detect(events: Sequence[Mapping[str, Any]], fault: Fault) -> float | None:
    seen = [float(e["ts"]) for e in events
            if e.get("kind") in DETECTION_EVENTS and e.get("pod") in fault.pods and float(e["ts"]) >= fault.ts]
    return min(seen) - fault.ts if seen else None


def failover_verdict(df: pd.DataFrame, events: Sequence[Mapping[str, Any]], fault: Fault, *,
                     goals: Mapping[str, float] | None = None, duplicates: int | None = None,
                     settle_s: float = SETTLE_S) -> Verdict:
    goals = goals or {}
    hit = affected_queries(df, fault, settle_s)
    delays = (final_attempt_start(hit) - np.maximum(hit["start"], fault.ts)).clip(lower=0.0)
    served = hit[hit["status"] == "ok"]
    failures = int(platform_failed(hit).sum())
    moved = served[~served["pod"].isin(fault.pods)]
    figures = FailoverFigures(
        step=fault.step,
        action=fault.action,
        fault_ts=fault.ts,
        pods=tuple(fault.pods),
        in_flight_at_fault=int(sum(fault.in_flight.values())),
        time_to_detect_s=time_to_detect(events, fault),
        affected_queries=int(len(hit)),
        served_elsewhere=int(len(moved)),
        client_failures=failures,
        time_to_failover_p50_s=float(delays.quantile(0.5)) if len(delays) else 0.0,
        time_to_failover_p99_s=float(delays.quantile(0.99)) if len(delays) else 0.0,
        time_to_failover_max_s=float(delays.max()) if len(delays) else 0.0,
        routing_converged_s=float((final_attempt_start(hit) - fault.ts).max()) if len(hit) else 0.0,
        duplicate_executions=duplicates,
    )
    notes = []
    if not fault.injected:
        notes.append(f"fault not injected: {fault.error or 'no evidence'}")
    if not len(hit):
        notes.append("no query was retried or failed: none was in flight on the faulted pods and the gateway "
                     "routed around them before any was sent there")
    if failures:
        by = hit[platform_failed(hit)].groupby("error_type").size().to_dict()
        notes.append("client-visible failures by type: " + ", ".join(f"{k} {v}" for k, v in sorted(by.items())))
    criteria = (
        Criterion("fault_injected", fault.injected, "== True", fault.injected),
        at_most("time_to_detect_s", figures.time_to_detect_s, goals.get("time_to_detect_s")),
        at_most("time_to_failover_p99_s", figures.time_to_failover_p99_s, goals.get("time_to_failover_p99_s")),
        at_most("client_failures", failures, goals.get("client_failures")),
        at_most("duplicate_executions", duplicates, goals.get("duplicate_executions")),
    )
    return Verdict(f"step {fault.step} {fault.action} {', '.join(fault.pods) or fault.target}",
                   figures, criteria, tuple(notes))

