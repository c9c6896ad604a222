"""A playbook: what an alert means, what it costs, which checks diagnose it, and what to do about it.

Mitigation commands are templates over the facts a diagnosis learns ("{pod}", "{healthy_clusters}");
what a diagnosis did not learn stays an upper-case placeholder the reader fills in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from runbooks.diagnosis.context import Check

#: Placeholders for facts a diagnosis may not learn; also what the runbook pages show.
PLACEHOLDERS: dict[str, str] = {
    "engine": "ENGINE",
    "pod": "POD",
    "healthy_clusters": "CLUSTERS",
    "clusters": "N",
    "clusters_plus_one": "N",
    "nodes_plus_one": "N",
    "min_clusters": "N",
    "previous_version": "VERSION",
    "query_id": "QUERY_ID",
}


class _Facts(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return PLACEHOLDERS.get(key, key.upper())


@dataclass(frozen=True)
class Mitigation:
    command: str  # template, e.g. "enginewatch engine drain-node {pod}"
    why: str

    def render(self, facts: dict[str, str] | None = None) -> str:
        return self.command.format_map(_Facts(facts or {}))


@dataclass(frozen=True)
class Playbook:
    alert: str
    summary: str
    meaning: str
    impact: str
    checks: tuple[Check, ...]
    mitigations: tuple[Mitigation, ...]
    kind: Literal["platform", "slo"] = "platform"
