"""Faults: every step of the method must have been injected, and verified (``Fault.injected``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from chaos.fault import Fault
from chaos.verdicts.base import Criterion, Figures, Verdict


@dataclass(frozen=True)
class FaultFigures(Figures):
    kind: ClassVar[str] = "faults"
    faults: int
    injected: int


def faults_verdict(faults: Sequence[Fault]) -> Verdict:
    # A method that injected nothing proves nothing: no fault is a failed criterion, not an empty pass.
    criteria = tuple(Criterion(f"step {f.step} {f.action} injected", f.injected, "== True", f.injected)
                     for f in faults) or (Criterion("faults", 0, ">= 1", False),)
    return Verdict("every fault injected and verified", FaultFigures(len(faults), sum(f.injected for f in faults)),
                   criteria)
