"""Errors of the orchestrator, each with the HTTP status the API answers it with."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engines.orchestrator.result import OperationResult


class OrchestratorError(RuntimeError):
    status = 500


class InvalidRequest(OrchestratorError):
    """The caller asked for something impossible (out of bounds, malformed); nothing was changed."""

    status = 400


class NotFound(InvalidRequest):
    status = 404
    what = "object"

    def __init__(self, name: str, known: Iterable[str]) -> None:
        listed = ", ".join(sorted(known)) or "none"
        super().__init__(f"unknown {self.what} {name!r}; known: {listed}")
        self.name = name


class UnknownEngine(NotFound):
    what = "engine"


class UnknownCluster(NotFound):
    what = "cluster"


class UnknownPod(NotFound):
    what = "pod"


class Conflict(OrchestratorError):
    """Legal in general, not in the current state (engine busy, pod not running, wrong lifecycle state)."""

    status = 409


class EngineBusy(Conflict):
    pass


class BudgetGateRefused(Conflict):
    """The error-budget release gate denied an upgrade, or could not be asked (fail closed).

    ``extra`` goes into the API's error body: the gate's own answer, for clients to show."""

    def __init__(self, message: str, gate: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.extra: dict[str, Any] = {"budget_gate": gate} if gate else {}


class PodNotRunning(Conflict):
    pass


class OperationFailed(OrchestratorError):
    """The operation ran and failed (what could be rolled back was); ``result`` says how far it got."""

    def __init__(self, message: str, result: OperationResult | None = None) -> None:
        super().__init__(message)
        self.result = result
