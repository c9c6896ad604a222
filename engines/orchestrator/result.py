"""What an orchestrator operation reports: outcome, duration and the details a caller verifies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class OperationResult:
    engine: str
    operation: str
    outcome: str  # contract OUTCOMES: success | failure
    seconds: float
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "success"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"engine": self.engine, "operation": self.operation, "outcome": self.outcome,
                               "seconds": round(self.seconds, 3), "detail": self.detail}
        if self.error:
            out["error"] = self.error
        return out
