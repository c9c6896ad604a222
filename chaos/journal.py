"""The journal: the complete record of one experiment run, written as JSON next to its ledger.

Everything the report says comes from here (plus the ledger), so a report can be rebuilt, and a run
compared with another, without the platform.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from chaos.fault import Fault
from chaos.rollback import RollbackResult
from chaos.verdicts.alerts import AlertObservation
from chaos.verdicts.base import Figures, Verdict
from chaos.verdicts.kinds import verdict_from_dict

F = TypeVar("F", bound=Figures)

#: Outcomes of a run. "aborted": a stop condition tripped; "interrupted": Ctrl-C; "error": the run
#: itself broke (not the platform's verdict).
STATUSES = ("passed", "failed", "aborted", "interrupted", "error")


@dataclass
class Journal:
    experiment: str
    source: str
    description: str = ""
    status: str = "error"
    started: float = 0.0
    ended: float = 0.0
    load_t0: float = 0.0  # wall clock of the load's start: step offsets count from here
    load_t1: float = 0.0
    sent: int = 0
    plan: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    aborts: list[str] = field(default_factory=list)
    rollbacks: list[RollbackResult] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    alerts: list[AlertObservation] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    reconciliation: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    experiment_raw: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def verdict_figures(self, kind: type[F]) -> list[F]:
        """The figures of this run's verdicts of one kind (``QueryFigures``, ``FailoverFigures``...), typed."""
        return [v.figures for v in self.verdicts if isinstance(v.figures, kind)]

    def reasons(self) -> list[str]:
        """Why the run did not pass, one line each."""
        out = [f"aborted: {a}" for a in self.aborts]
        out += [f"step {f.step} {f.action}: fault not injected ({f.error})" for f in self.faults if not f.injected]
        for v in self.verdicts:
            out += [f"{v.kind} {v.subject}: {c.name} = {c.observed} (expected {c.expected})" for c in v.failed]
        out += [f"rollback {r.action} failed: {r.detail}" for r in self.rollbacks if not r.ok]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment, "source": self.source, "description": self.description,
            "status": self.status, "started": self.started, "ended": self.ended,
            "load_t0": self.load_t0, "load_t1": self.load_t1, "sent": self.sent, "plan": self.plan,
            "faults": [f.to_dict() for f in self.faults], "aborts": self.aborts,
            "rollbacks": [r.to_dict() for r in self.rollbacks],
            "verdicts": [v.to_dict() for v in self.verdicts],
            "alerts": [a.to_dict() for a in self.alerts], "events": self.events,
            "reconciliation": self.reconciliation, "figures": self.figures, "notes": self.notes,
            "reasons": self.reasons(), "experiment_spec": self.experiment_raw, "artifacts": self.artifacts,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Journal:
        """A journal from its JSON form (``to_dict``); ``reasons`` is recomputed, not read."""
        return cls(
            experiment=data["experiment"], source=data["source"], description=data.get("description", ""),
            status=data.get("status", "error"), started=data.get("started", 0.0), ended=data.get("ended", 0.0),
            load_t0=data.get("load_t0", 0.0), load_t1=data.get("load_t1", 0.0), sent=data.get("sent", 0),
            plan=list(data.get("plan", [])),
            faults=[Fault.from_dict(f) for f in data.get("faults", [])],
            aborts=list(data.get("aborts", [])),
            rollbacks=[RollbackResult.from_dict(r) for r in data.get("rollbacks", [])],
            verdicts=[verdict_from_dict(v) for v in data.get("verdicts", [])],
            alerts=[AlertObservation.from_dict(a) for a in data.get("alerts", [])],
            events=list(data.get("events", [])), reconciliation=dict(data.get("reconciliation", {})),
            figures=dict(data.get("figures", {})), notes=list(data.get("notes", [])),
            experiment_raw=dict(data.get("experiment_spec", {})), artifacts=dict(data.get("artifacts", {})),
        )

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, default=_default))
        return path

    @classmethod
    def read(cls, path: Path) -> Journal:
        return cls.from_dict(json.loads(path.read_text()))


def _default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return str(o)
