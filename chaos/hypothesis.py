"""The hypothesis, judged: from what was observed to the verdicts an experiment passes or fails on.

Every verdict is computed whatever the hypothesis says (the report shows the figures); the hypothesis
decides which criteria are judged. Each fault's injection is always judged, and so is the steady state
before the first fault (no alert may fire there) whenever Prometheus could be asked. A step repeated K
times gets one failover and one impact verdict over its K faults: they pool the samples.
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
    impact_verdict,
    queries_verdict,
    recovery_verdict,
    steady_state_verdict,
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
    #: ALERTS{alertstate="firing"} over the steady state: (labels, sample times) per series; None when
    #: Prometheus could not be asked.
    steady_alerts: list[tuple[dict[str, str], list[float]]] | None = None
    always_firing: frozenset[str] = frozenset()  # dead man's switch rules
    evaluation_interval_s: float = 1.0


def evaluate(exp: Experiment, obs: Observation) -> list[Verdict]:
    h = exp.hypothesis
    verdicts = [
        faults_verdict(obs.faults, {s.index: s.repeat for s in exp.method}),
        queries_verdict(obs.ledger, sent=obs.sent, lost_max=h.lost_queries, failed_max=h.failed_queries,
                        failed_read_max=h.failed_read_queries, p99_max_s=h.p99_latency_s),
    ]
    first_fault = min((f.ts for f in obs.faults), default=obs.t1)
    verdicts.append(steady_state_verdict(obs.steady_alerts or [], obs.t0, first_fault,
                                         background=h.background_alerts, always_firing=obs.always_firing,
                                         interval_s=obs.evaluation_interval_s,
                                         watched=obs.steady_alerts is not None))
    by_step: dict[int, list[Fault]] = {}
    for fault in obs.faults:
        by_step.setdefault(fault.step, []).append(fault)
    for faults in by_step.values():
        if faults[0].action in FAILOVER_ACTIONS:
            verdicts.append(failover_verdict(obs.ledger, obs.events, faults, goals=h.failover or None,
                                             duplicates=duplicates(obs.reconciliation, faults[0].engine)))
        elif faults[0].action in DRAIN_ACTIONS:
            verdicts += [drain_verdict(obs.ledger, obs.events, fault, grace_s=obs.grace_s,
                                       goals=h.drain if h.drain else None) for fault in faults]
    for step, faults in by_step.items():
        injected = [f for f in faults if f.injected]
        if injected:
            others = [f for f in obs.faults if f.step != step]
            verdicts.append(impact_verdict(obs.ledger, obs.events, injected, alerts=obs.alerts,
                                           expected=h.expect_alerts, others=others, t0=obs.t0, t1=obs.t1,
                                           goals=h.impact or None))
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
