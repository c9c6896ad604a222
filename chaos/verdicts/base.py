"""What every verdict is: figures measured, criteria judged against them, and notes that explain.

A criterion without an expectation is reported, not judged (``ok`` is None). A verdict passes when no
judged criterion failed and at least one was judged: a verdict that judged nothing proves nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Criterion:
    name: str
    observed: Any
    expected: str  # "<= 1", "== 0" ... ; "" when not judged
    ok: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "observed": _plain(self.observed), "expected": self.expected, "ok": self.ok}


@dataclass(frozen=True)
class Verdict:
    kind: str  # failover | drain | recovery | budget | alerts | queries
    subject: str
    figures: dict[str, Any]
    criteria: tuple[Criterion, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def judged(self) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if c.ok is not None)

    @property
    def passed(self) -> bool:
        return bool(self.judged) and all(c.ok for c in self.judged)

    @property
    def failed(self) -> tuple[Criterion, ...]:
        return tuple(c for c in self.judged if not c.ok)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "subject": self.subject, "passed": self.passed,
                "figures": {k: _plain(v) for k, v in self.figures.items()},
                "criteria": [c.to_dict() for c in self.criteria], "notes": list(self.notes)}


def at_most(name: str, observed: float | int | None, limit: float | int | None) -> Criterion:
    """observed <= limit; a missing observation fails a judged criterion (no data is no proof)."""
    if limit is None:
        return Criterion(name, observed, "", None)
    ok = observed is not None and not (isinstance(observed, float) and math.isnan(observed)) and observed <= limit
    return Criterion(name, observed, f"<= {limit:g}", ok)


def equals(name: str, observed: Any, wanted: Any) -> Criterion:
    if wanted is None:
        return Criterion(name, observed, "", None)
    return Criterion(name, observed, f"== {wanted}", observed == wanted)


def at_least(name: str, observed: float | int | None, floor: float | int | None) -> Criterion:
    if floor is None:
        return Criterion(name, observed, "", None)
    return Criterion(name, observed, f">= {floor:g}", observed is not None and observed >= floor)


def _plain(v: Any) -> Any:
    """JSON-friendly: numpy scalars to Python, NaN to None."""
    if hasattr(v, "item") and not isinstance(v, (list, dict, str)):
        v = v.item()
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 6)
    return v
