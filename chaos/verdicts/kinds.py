"""Every verdict kind's figures, by kind: what reads a journal's verdicts back typed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaos.verdicts.alerts import AlertFigures
from chaos.verdicts.base import Criterion, Figures, Verdict
from chaos.verdicts.budget import BudgetFigures
from chaos.verdicts.drain import DrainFigures
from chaos.verdicts.failover import FailoverFigures
from chaos.verdicts.faults import FaultFigures
from chaos.verdicts.impact import ImpactFigures
from chaos.verdicts.queries import QueryFigures
from chaos.verdicts.recovery import RecoveryFigures
from chaos.verdicts.steady import SteadyStateFigures

FIGURES: dict[str, type[Figures]] = {cls.kind: cls for cls in (
    FaultFigures, QueryFigures, FailoverFigures, DrainFigures, RecoveryFigures, BudgetFigures, AlertFigures,
    ImpactFigures, SteadyStateFigures)}


def verdict_from_dict(data: Mapping[str, Any]) -> Verdict:
    """A verdict from its journal form (``Verdict.to_dict``); ``passed`` is recomputed from the criteria."""
    kind = data["kind"]
    if kind not in FIGURES:
        raise ValueError(f"unknown verdict kind {kind!r}; known: {', '.join(FIGURES)}")
    return Verdict(data["subject"], FIGURES[kind].from_dict(data["figures"]),
                   tuple(Criterion.from_dict(c) for c in data.get("criteria", ())), tuple(data.get("notes", ())))
