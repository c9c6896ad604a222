"""A fault as it happened: what was hit, when, and the evidence that it really happened.

Actions produce these; verdicts, the journal and the report read them. ``injected`` is only true when
the effect was observed (the process gone, stopped, draining, replaced), never because a call returned.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Fault:
    step: int
    action: str
    engine: str
    target: str  # the selector, described
    at_s: float  # planned offset from the start of the load
    pods: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    pids: dict[str, int] = field(default_factory=dict)
    ts: float = 0.0  # wall clock when the fault was injected
    lifted_ts: float | None = None  # when it stopped acting (pause over, sustained kill over)
    injected: bool = False
    evidence: list[str] = field(default_factory=list)
    error: str | None = None
    #: Queries running or queued on each hit pod just before the fault (its own /status).
    in_flight: dict[str, int] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    #: Which repetition of its step (0-based; a step with ``repeat: K`` makes K faults).
    repetition: int = 0

    @property
    def end_ts(self) -> float:
        """When the fault stopped acting; an instant fault ends when it starts."""
        return self.lifted_ts if self.lifted_ts is not None else self.ts

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["pods"], out["clusters"] = list(self.pods), list(self.clusters)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Fault:
        data = dict(d)
        data["pods"], data["clusters"] = tuple(data.get("pods", ())), tuple(data.get("clusters", ()))
        return cls(**data)
