"""Playbooks of the SLO alerts that the SLO generator derives from the platform's SLO specs.

The alert names come from the SLO model (``SLO.alert_name``), never copied; each SLO is matched to
the checks that find the cause of its burn by the signal it measures.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client.utils import floatToGoString

from exporters import contract as c
from runbooks.diagnosis import alerts, fleet, gateway, gray, saturation, slo, targets
from runbooks.diagnosis.context import Check
from runbooks.playbooks.common import DRAIN_NODE, FAILOVER, RESTART_POD, ROLLBACK, SCALE_OUT, SCALE_UP
from runbooks.playbooks.model import Mitigation, Playbook
from slo.model import SLO
from slo.rules import BUDGET_EXHAUSTED_ALERT, BUDGET_LOW_ALERT, NO_DATA_ALERT
from slo.specs.platform import (
    BATCH_LATENCY_THRESHOLD,
    ENGINE_START_THRESHOLD,
    INTERACTIVE_KINDS,
    INTERACTIVE_LATENCY_THRESHOLD,
    SCAN_KINDS,
    SCAN_LATENCY_THRESHOLD,
    platform_slos,
)

Recipe = tuple[Callable[[SLO], tuple[Check, ...]], tuple[Mitigation, ...], str]

_RECIPES: dict[tuple[str, str], Recipe] = {
    ("gateway", "availability"): (
        lambda s: (slo.gateway_error_ratio(s), gateway.errors, gateway.upstreams, fleet.capacity, fleet.timeline),
        (FAILOVER, DRAIN_NODE, ROLLBACK),
        "Clients get errors that are the platform's fault (timeouts, unavailable, overloaded, oom, canceled, "
        "internal) at a rate that spends the error budget before the period ends.",
    ),
    ("gateway", "interactive-latency"): (
        lambda s: (slo.gateway_latency(s, INTERACTIVE_LATENCY_THRESHOLD, floatToGoString(INTERACTIVE_LATENCY_THRESHOLD),
                                       INTERACTIVE_KINDS),
                   gray.outliers, saturation.slots, saturation.queue, gateway.failovers, fleet.capacity),
        (SCALE_OUT, SCALE_UP, FAILOVER),
        "Clients wait longer than the SLO's threshold for too many of their successful interactive queries "
        "(lookups, aggregates, joins): the queries that a person waits for.",
    ),
    ("gateway", "scan-latency"): (
        lambda s: (slo.gateway_latency(s, SCAN_LATENCY_THRESHOLD, floatToGoString(SCAN_LATENCY_THRESHOLD),
                                       SCAN_KINDS),
                   saturation.slots, saturation.cpu, gray.outliers, fleet.capacity),
        (SCALE_UP, SCALE_OUT, FAILOVER),
        "Too many successful scans take longer than the SLO's threshold: the heavy queries starve for CPU or "
        "slots, or run on a slow node.",
    ),
    ("gateway", "batch-latency"): (
        lambda s: (slo.gateway_latency(s, BATCH_LATENCY_THRESHOLD, floatToGoString(BATCH_LATENCY_THRESHOLD),
                                       c.QUERY_KINDS),
                   gray.outliers, gray.cause, saturation.slots, saturation.queue, fleet.capacity),
        (DRAIN_NODE, SCALE_OUT, FAILOVER),
        "Too many successful queries to a batch engine (one that serves reports over a slow storage tier) take "
        "longer than the SLO's threshold. The engine's lookups wait seconds on storage by design, so the cause to "
        "find is storage slower still on some node (a slow_storage fault adds to the tier's latency), or queries "
        "queueing for slots behind the long ones.",
    ),
    ("query-core", "availability"): (
        lambda s: (slo.core_errors, saturation.memory, fleet.timeline, fleet.pods, fleet.capacity),
        (DRAIN_NODE, ROLLBACK, SCALE_UP),
        "Engine nodes fail queries with platform errors at a rate that spends the error budget.",
    ),
    ("control-plane", "engine-start-latency"): (
        lambda s: (slo.starts(ENGINE_START_THRESHOLD, floatToGoString(ENGINE_START_THRESHOLD)),
                   fleet.operations, fleet.pods, fleet.timeline),
        (RESTART_POD, ROLLBACK),
        "Engine starts fail or take longer than the SLO's threshold too often.",
    ),
}


def _impact(s: SLO) -> str:
    return (f"At this burn rate the {float(s.objective * 100):g}% objective of {s.service} {s.name} will be missed "
            "within the period: the error budget that releases, upgrades and experiments spend is being spent "
            "by the platform instead. Page: the budget runs out within days. Ticket: within the period.")


def _playbook(s: SLO) -> Playbook:
    checks, mitigations, meaning = _RECIPES.get((s.service, s.name), (
        lambda _s: (fleet.capacity, fleet.timeline), (FAILOVER, SCALE_OUT), "The SLO burns its error budget too fast."))
    return Playbook(
        s.alert_name, f"The {s.service} {s.name} SLO burns its error budget too fast.",
        meaning=f"{meaning} SLO: {s.description} Objective {float(s.objective * 100):g}%.",
        impact=_impact(s),
        checks=(alerts.active(s.alert_name), slo.budget(s), *checks(s)),
        mitigations=mitigations, kind="slo",
    )


def _no_data() -> Playbook:
    return Playbook(
        NO_DATA_ALERT, "An SLO has no data.",
        meaning=("The series an SLO is computed from are missing, or carry no events: the SLO's error budget "
                 "and burn-rate alerts see nothing. The alert's `slo` label names the SLO."),
        impact="An outage of what the SLO measures would not page anyone through the SLO.",
        checks=(alerts.active(NO_DATA_ALERT), targets.jobs, targets.traffic, fleet.capacity),
        mitigations=(Mitigation("enginewatch status", "see which engines run and serve"),
                     Mitigation("enginewatch engine scale {engine} --clusters {min_clusters}",
                                "an engine without clusters produces no events: give it its clusters back")),
        kind="slo",
    )


_GATE = Mitigation("enginewatch engine upgrade {engine} VERSION --override-budget-gate",
                   "only for the fix itself (or a security release): the release gate refuses other upgrades "
                   "while the budget is spent, and the override is recorded in the operation's events")


def _budget(alert: str) -> Playbook:
    slos = [s for s in platform_slos() if s.alerting is not None]
    exhausted = alert == BUDGET_EXHAUSTED_ALERT
    return Playbook(
        alert, "An SLO has spent its error budget." if exhausted else "An SLO is running low on error budget.",
        meaning=("The SLO's error ratio over its whole period is at or above what the objective allows: the "
                 "period's error budget is gone (the alert's value is the percentage left, negative when overspent). "
                 "The alert's `slo` label names the SLO, `engine` the engine." if exhausted else
                 "Less of the period's error budget is left than the SLO's warning threshold (25% unless its spec "
                 "says `budget.low_percent`): a slow burn that no burn-rate tier pages for, or the remains of an "
                 "incident. The alert's `slo` label names the SLO, `engine` the engine."),
        impact=("The objective is missed for this period. The release gate (`GET /api/v1/slos/{id}/gate` of the SLO "
                "service) denies upgrades of the engine, so the orchestrator refuses them until the budget recovers "
                "as old errors leave the period." if exhausted else
                "Releases still pass the gate, but one more incident of the usual size spends the rest and "
                "freezes them."),
        checks=(alerts.active(alert), slo.budgets(slos), fleet.operations, fleet.timeline),
        mitigations=((ROLLBACK, _GATE) if exhausted else (ROLLBACK,)),
        kind="slo",
    )


def playbooks() -> list[Playbook]:
    return [*(_playbook(s) for s in platform_slos() if s.alerting is not None), _no_data(),
            _budget(BUDGET_EXHAUSTED_ALERT), _budget(BUDGET_LOW_ALERT)]
