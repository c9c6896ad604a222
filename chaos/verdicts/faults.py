"""Faults: every step of the method must have been injected, and verified (``Fault.injected``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from chaos.fault import Fault
from chaos.verdicts.base import Criterion, Figures, Verdict


@dataclass(frozen=True)
class FaultFigures(Figures):
    kind: ClassVar[str] = "faults"
    faults: int
    injected: int


def faults_verdict(faults: Sequence[Fault], repeats: Mapping[int, int] | None = None) -> Verdict:
    """``repeats``: step -> repetitions planned; a step that ran fewer (the load ended first) fails."""
    # A method that injected nothing proves nothing: no fault is a failed criterion, not an empty pass.
    criteria = [Criterion(f"step {f.step} {f.action} injected" + (f" [{f.repetition + 1}]" if f.repetition else ""),
                          f.injected, "== True", f.injected) for f in faults]
    for step, planned in sorted((repeats or {}).items()):
        ran = sum(1 for f in faults if f.step == step)
        if planned > 1 and ran and all(f.injected for f in faults if f.step == step):
            criteria.append(Criterion(f"step {step} repetitions", ran, f"== {planned}", ran == planned))
    return Verdict("every fault injected and verified", FaultFigures(len(faults), sum(f.injected for f in faults)),
                   tuple(criteria) or (Criterion("faults", 0, ">= 1", False),))
