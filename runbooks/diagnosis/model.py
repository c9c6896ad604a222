"""What a diagnosis produces: findings in plain words, the checks that ran (with their PromQL or API
call), the sources that could not be reached, and the mitigation commands to run.

Everything is plain data with ``to_dict()``, so a chaos game day can put a diagnosis in its report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Level = Literal["problem", "ok", "info"]
#: gateway: its admin API (the nodes' query history); loki: the components' logs.
Source = Literal["prometheus", "orchestrator", "gateway", "loki"]
SOURCES: tuple[Source, ...] = ("prometheus", "orchestrator", "gateway", "loki")
DEFAULT_WINDOW_S = 600


@dataclass(frozen=True)
class Scope:
    """What to look at: one engine (or all), one cluster (or all), over the last ``window_s``."""

    engine: str | None = None
    cluster: str | None = None
    window_s: int = DEFAULT_WINDOW_S

    @property
    def window(self) -> str:
        """The window as a PromQL range."""
        return f"{self.window_s // 60}m" if self.window_s % 60 == 0 else f"{self.window_s}s"

    @property
    def window_text(self) -> str:
        """The window in words, for findings."""
        return f"{self.window_s // 60} min" if self.window_s % 60 == 0 else f"{self.window_s} s"

    def covers(self, engine: str | None, cluster: str | None = None) -> bool:
        return (self.engine is None or engine == self.engine) and (
            self.cluster is None or cluster is None or cluster == self.cluster)


@dataclass(frozen=True)
class Finding:
    level: Level
    text: str
    check: str
    engine: str | None = None
    cluster: str | None = None
    pod: str | None = None


@dataclass
class CheckRun:
    step: int
    title: str
    source: Source
    queries: list[str] = field(default_factory=list)  # PromQL, or "GET /v1/..." for the orchestrator
    status: Literal["ok", "unavailable", "error"] = "ok"
    error: str | None = None


@dataclass(frozen=True)
class Unavailable:
    source: Source
    url: str
    error: str
    not_checked: tuple[str, ...]


@dataclass(frozen=True)
class MitigationCommand:
    command: str
    why: str


@dataclass
class Diagnosis:
    alert: str
    summary: str
    scope: Scope
    findings: list[Finding] = field(default_factory=list)
    checks: list[CheckRun] = field(default_factory=list)
    unavailable: list[Unavailable] = field(default_factory=list)
    mitigations: list[MitigationCommand] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "problem"]

    @property
    def complete(self) -> bool:
        """Every check ran: no source was unreachable."""
        return not self.unavailable and all(c.status == "ok" for c in self.checks)

    def text(self) -> str:
        """All findings in one string: what tests and reports search for the condition's name."""
        return "\n".join(f.text for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert": self.alert,
            "summary": self.summary,
            "scope": {"engine": self.scope.engine, "cluster": self.scope.cluster, "window": self.scope.window},
            "complete": self.complete,
            "findings": [asdict(f) for f in self.findings],
            "checks": [asdict(c) for c in self.checks],
            "unavailable": [{**asdict(u), "not_checked": list(u.not_checked)} for u in self.unavailable],
            "mitigations": [asdict(m) for m in self.mitigations],
        }
