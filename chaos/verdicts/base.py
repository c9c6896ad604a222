"""What every verdict is: figures measured, criteria judged against them, and notes that explain.

Each kind of verdict has its own figures dataclass (``Figures`` subclasses, next to the verdict that
measures them): code that acts on figures reads typed attributes. A figures object is also a read-only
mapping of its journal form, so the report and the JSON can list every figure without knowing the kind.

A criterion without an expectation is reported, not judged (``ok`` is None). A verdict passes when no
judged criterion failed and at least one was judged: a verdict that judged nothing proves nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Self


@dataclass(frozen=True)
class Figures(Mapping[str, Any]):
    """The figures of one verdict kind. ``to_dict`` is the journal's JSON form (values unrounded:
    ``Verdict.to_dict`` makes them plain); ``from_dict`` reads that form back."""

    kind: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _listed(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        # A figure added since a journal was written takes its default there (e.g. repetitions = 1).
        return cls(**{f.name: _tupled(data.get(f.name)) for f in fields(cls)
                      if f.name in data or (f.default is MISSING and f.default_factory is MISSING)})

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


@dataclass(frozen=True)
class Criterion:
    name: str
    observed: Any
    expected: str  # "<= 1", "== 0" ... ; "" when not judged
    ok: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "observed": _plain(self.observed), "expected": self.expected, "ok": self.ok}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Criterion:
        return cls(data["name"], data.get("observed"), data.get("expected", ""), data.get("ok"))


@dataclass(frozen=True)
class Verdict:
    subject: str
    figures: Figures
    criteria: tuple[Criterion, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def kind(self) -> str:
        """failover | drain | recovery | budget | alerts | queries | faults | impact | steady_state: the
        figures say which."""
        return self.figures.kind

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
                "figures": {k: _plain(v) for k, v in self.figures.to_dict().items()},
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


def nan_if_none(v: float | None) -> float:
    """JSON has no NaN (``_plain`` writes None): read a 'no value' figure back as the NaN it was."""
    return float("nan") if v is None else float(v)


def _listed(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def _tupled(v: Any) -> Any:
    # Figures are frozen: their sequences are tuples, JSON's are lists.
    return tuple(v) if isinstance(v, list) else v


def _plain(v: Any) -> Any:
    """JSON-friendly: numpy scalars to Python, NaN to None."""
    if hasattr(v, "item") and not isinstance(v, (list, dict, str)):
        v = v.item()
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 6)
    return v
