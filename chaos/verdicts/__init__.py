"""Verdicts: pure functions over the ledger, the platform's events and Prometheus samples."""

from chaos.verdicts.alerts import (
    AlertObservation,
    DetectionBudget,
    alerts_verdict,
    local_page_detection,
    page_detection,
)
from chaos.verdicts.base import Criterion, Verdict
from chaos.verdicts.budget import budget_figures, budget_verdict, burn_series
from chaos.verdicts.drain import drain_verdict
from chaos.verdicts.failover import failover_verdict
from chaos.verdicts.queries import queries_verdict, query_figures, time_series
from chaos.verdicts.reconcile import reconcile
from chaos.verdicts.recovery import recovery_verdict

__all__ = [
    "AlertObservation", "Criterion", "DetectionBudget", "Verdict", "alerts_verdict", "budget_figures",
    "budget_verdict", "burn_series", "drain_verdict", "failover_verdict", "local_page_detection", "page_detection",
    "queries_verdict", "query_figures", "reconcile", "recovery_verdict", "time_series",
]
