"""One alerting rule in the style of the monitoring-mixins guide, and its YAML form.

CamelCase name, a ``severity`` label (critical pages, warning opens a ticket, info only informs, none is the dead man's
switch that fires by design and that steady-state checks skip), a
static ``summary`` (it groups well in notification titles), a templated ``description`` (it says which
engine, pod and how much), a ``runbook_url`` and a ``dashboard_url``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from foundation.deployment import Links
from foundation.durations import format_duration

Severity = Literal["critical", "warning", "info", "none"]
SEVERITIES: tuple[str, ...] = ("critical", "warning", "info", "none")
#: The severity of alerts that fire always (the Watchdog): never a page, never a false page.
ALWAYS_FIRING_SEVERITY = "none"
# One word is enough: "Watchdog" is the name every dead man's switch integration expects.
_CAMEL = re.compile(r"^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*$")


@dataclass(frozen=True)
class AlertRule:
    name: str
    expr: str
    severity: Severity
    summary: str
    description: str  # a Prometheus (Go) template
    dashboard: str  # dashboard uid
    scope: tuple[str, ...]  # labels the expression leaves on the alert (engine, cluster, pod ...)
    for_: int = 0  # seconds
    labels: dict[str, str] = field(default_factory=dict)
    #: Seconds the alert keeps firing after its condition stops holding (Prometheus >= 2.42): for a
    #: fault whose evidence moves from one signal to another, so that the handover does not resolve it.
    keep_firing_for: int = 0

    def __post_init__(self) -> None:
        problems = []
        if not _CAMEL.match(self.name):
            problems.append("name is not CamelCase")
        if self.severity not in SEVERITIES:
            problems.append(f"severity {self.severity!r} is not one of {SEVERITIES}")
        if "{{" in self.summary:
            problems.append("summary must be static (no template)")
        if "{{" not in self.description:
            problems.append("description must be templated (say which engine or target)")
        if problems:
            raise ValueError(f"alert {self.name}: " + "; ".join(problems))

    def annotations(self, links: Links) -> dict[str, str]:
        return {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": links.runbook(self.name),
            "dashboard_url": links.dashboard(self.dashboard, self.scope),
        }

    def to_dict(self, links: Links) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_:
            rule["for"] = format_duration(self.for_)
        if self.keep_firing_for:
            rule["keep_firing_for"] = format_duration(self.keep_firing_for)
        rule["labels"] = {"severity": self.severity, **self.labels}
        rule["annotations"] = self.annotations(links)
        return rule


@dataclass(frozen=True)
class RuleGroup:
    name: str
    rules: tuple[AlertRule, ...]

    def to_dict(self, links: Links) -> dict[str, Any]:
        return {"name": self.name, "rules": [r.to_dict(links) for r in self.rules]}
