"""The hypothesis, judged: from what was observed to the verdicts an experiment passes or fails on.

Every verdict is computed whatever the hypothesis says (the report shows the figures); the hypothesis
decides which criteria are judged. Each fault's injection is always judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from chaos.experiment import DRAIN_ACTIONS, FAILOVER_ACTIONS, Experiment
from chaos.fault import Fault
from chaos.verdicts import (
    AlertObservation,
    DetectionBudget,
    PrometheusBudget,
    Verdict,
    alerts_verdict,
    budget_verdict,
    drain_verdict,
    failover_verdict,
    faults_verdict,
    queries_verdict,
    recovery_verdict,
)
from chaos.verdicts.reconcile import duplicates


@dataclass
class Observation:
    ledger: pd.DataFrame
    sent: int
    events: list[dict[str, Any]]
    faults: list[Fault]
    t0: float
    t1: float
    ready_at_start: dict[str, str]  # pod -> engine
    desired: dict[str, int]  # engine -> desired ready nodes
    grace_s: float
    alerts: list[AlertObservation] = field(default_factory=list)
    alerts_watched: bool = False
    reconciliation: dict[str, Any] = field(default_factory=dict)
    prometheus_budget: PrometheusBudget | None = None
    detection: DetectionBudget | None = None


def evaluate(exp: Experiment, obs: Observation) -> list[Verdict]:
    h = exp.hypothesis
    verdicts = [
        faults_verdict(obs.faults),
        queries_verdict(obs.ledger, sent=obs.sent, lost_max=h.lost_queries, failed_max=h.failed_queries,
                        failed_read_max=h.failed_read_queries, p99_max_s=h.p99_latency_s),
    ]
    for fault in obs.faults:
        if fault.action in FAILOVER_ACTIONS:
            verdicts.append(failover_verdict(obs.ledger, obs.events, fault, goals=h.failover or None,
                                             duplicates=duplicates(obs.reconciliation, fault.engine)))
        elif fault.action in DRAIN_ACTIONS:
            verdicts.append(drain_verdict(obs.ledger, obs.events, fault, grace_s=obs.grace_s,
                                          goals=h.drain if h.drain else None))
    verdicts.append(recovery_verdict(obs.events, obs.faults, obs.ready_at_start, obs.desired,
                                     within_s=h.recovery_within_s))
    verdicts.append(budget_verdict(obs.ledger, exp.slo.objective, exp.slo.period_s, obs.t0, obs.t1,
                                   max_consumed=h.budget_consumed, prometheus=obs.prometheus_budget))
    if h.expect_alerts or h.forbid_alerts or obs.alerts:
        fault_ts = min((f.ts for f in obs.faults if f.injected), default=obs.t0)
        v = alerts_verdict(obs.alerts, h.expect_alerts, h.forbid_alerts, fault_ts, detection=obs.detection)
        if not obs.alerts_watched and (h.expect_alerts or h.forbid_alerts):
            v = replace(v, notes=v.notes + ("no Prometheus/Alertmanager to watch: alerts could not be observed",))
        verdicts.append(v)
    return verdicts
