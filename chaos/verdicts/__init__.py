"""Verdicts: pure functions over the ledger, the platform's events and Prometheus samples.

Each verdict kind measures its own typed figures (``QueryFigures``, ``FailoverFigures``, ...).
"""

from chaos.verdicts.alerts import (
    AlertFigures,
    AlertObservation,
    AlertTiming,
    DetectionBudget,
    PageDetection,
    alerts_verdict,
    local_page_detection,
    page_detection,
)
from chaos.verdicts.base import Criterion, Figures, Verdict
from chaos.verdicts.budget import BudgetFigures, PrometheusBudget, budget_figures, budget_verdict, burn_series
from chaos.verdicts.drain import DrainFigures, PodDrain, drain_verdict
from chaos.verdicts.failover import FailoverFigures, failover_verdict
from chaos.verdicts.faults import FaultFigures, faults_verdict
from chaos.verdicts.impact import ImpactFigures, impact_verdict
from chaos.verdicts.kinds import FIGURES, verdict_from_dict
from chaos.verdicts.queries import QueryFigures, queries_verdict, query_figures, time_series
from chaos.verdicts.reconcile import reconcile
from chaos.verdicts.recovery import RecoveryFigures, recovery_verdict
from chaos.verdicts.steady import FalsePage, SteadyStateFigures, steady_state_verdict

__all__ = [
    "FIGURES", "AlertFigures", "AlertObservation", "AlertTiming", "BudgetFigures", "Criterion", "DetectionBudget",
    "DrainFigures", "FailoverFigures", "FalsePage", "FaultFigures", "Figures", "ImpactFigures", "PageDetection",
    "PodDrain", "PrometheusBudget", "QueryFigures", "RecoveryFigures", "SteadyStateFigures", "Verdict",
    "alerts_verdict", "budget_figures", "budget_verdict", "burn_series", "drain_verdict", "failover_verdict",
    "faults_verdict", "impact_verdict", "local_page_detection", "page_detection", "queries_verdict", "query_figures",
    "reconcile", "recovery_verdict", "steady_state_verdict", "time_series", "verdict_from_dict",
]
