"""The error-budget release gate: may a release (an engine upgrade) proceed, given the SLOs' budgets?

Policy, per SLO group (one per engine for SLOs split by engine): deny when the period's budget
remaining is at or below the SLO's ``budget.release_min`` (0 unless the spec says otherwise, so:
once the budget is spent). A group without data allows, and the reason says so: no events is no
evidence of unreliability, and an engine nobody queried yet must stay deployable.

Scope: one SLO (all its groups, or one engine's), or every SLO that covers an engine. An SLO split
by engine covers an engine through that engine's group; an SLO not split by engine (the control
plane's) covers every engine with all its groups.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slo.service.source import GroupState, SLOState

if TYPE_CHECKING:
    from slo.service.live import LiveSource

ENGINE_LABEL = "engine"


@dataclass(frozen=True)
class GroupCheck:
    slo: str
    labels: dict[str, str]
    budget_remaining: float | None  # None: no data
    threshold: float  # the release needs more budget left than this
    allow: bool
    reason: str


@dataclass(frozen=True)
class Verdict:
    allow: bool
    reason: str
    checks: tuple[GroupCheck, ...]
    evaluated_at: float  # unix seconds the Prometheus queries were evaluated at
    slo: str | None = None
    engine: str | None = None

    @property
    def deciding(self) -> GroupCheck | None:
        """The check the reason is about: the first denial, else the lowest budget with data."""
        denied = [c for c in self.checks if not c.allow]
        if denied:
            return denied[0]
        with_data = [c for c in self.checks if c.budget_remaining is not None]
        return min(with_data, key=lambda c: c.budget_remaining or 0.0, default=None)


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def subject(slo: str, labels: dict[str, str]) -> str:
    where = ", ".join(f"{k} {v}" for k, v in sorted(labels.items()))
    return f"SLO {slo}" + (f" ({where})" if where else "")


def check_group(state: SLOState, group: GroupState) -> GroupCheck:
    threshold = float(state.slo.budget.release_min)
    who = subject(state.slo.id, group.labels)
    left = group.budget_remaining
    if left is None:
        return GroupCheck(state.slo.id, group.labels, None, threshold, True,
                          f"{who} has no data in its period (counted as allowed)")
    if left <= threshold:
        spent = "has spent its error budget" if left <= 0 else "is below its release threshold"
        return GroupCheck(state.slo.id, group.labels, left, threshold, False,
                          f"{who} {spent}: {_pct(left)} of it left, releases need more than {_pct(threshold)}")
    return GroupCheck(state.slo.id, group.labels, left, threshold, True,
                      f"{who} has {_pct(left)} of its error budget left (releases need more than {_pct(threshold)})")


def covers(state: SLOState, group: GroupState, engine: str | None) -> bool:
    if engine is None or ENGINE_LABEL not in state.slo.sli.group_by:
        return True
    # A row without the label is the SLO's "no series at all" row: no data for this engine either.
    return group.labels.get(ENGINE_LABEL) in (engine, None)


def _checks(state: SLOState, engine: str | None) -> list[GroupCheck]:
    out = [check_group(state, g) for g in state.groups if covers(state, g, engine)]
    if not out and engine is not None:
        # Split by engine, with data for other engines only: this one has none (yet).
        threshold = float(state.slo.budget.release_min)
        out.append(GroupCheck(state.slo.id, {ENGINE_LABEL: engine}, None, threshold, True,
                              f"{subject(state.slo.id, {ENGINE_LABEL: engine})} has no data in its period "
                              "(counted as allowed)"))
    return out


def decide(states: Iterable[SLOState], evaluated_at: float, engine: str | None = None,
           slo: str | None = None) -> Verdict:
    checks = tuple(c for s in states for c in _checks(s, engine))
    scope = f"SLO {slo}" if slo else "the SLOs"
    scope += f" for engine {engine}" if engine else ""
    verdict = Verdict(True, "", checks, evaluated_at, slo, engine)
    deciding = verdict.deciding
    denied = [c for c in checks if not c.allow]
    if denied:
        more = f" (and {len(denied) - 1} more)" if len(denied) > 1 else ""
        reason = f"release denied: {denied[0].reason}{more}"
    elif deciding is not None:
        reason = f"release allowed: every group of {scope} has budget left; the lowest: {deciding.reason}"
    elif checks:
        reason = f"release allowed: {scope} have no data in their period (counted as allowed)"
    else:
        reason = "release allowed: no SLO to check"
    return Verdict(not denied, reason, checks, evaluated_at, slo, engine)


def gate(source: LiveSource, slo: str | None = None, engine: str | None = None) -> Verdict:
    """The verdict from the live budgets (raises UnknownSLO, DataSourceDown)."""
    at = time.time()
    states = [source.state(slo, at)] if slo else source.states(at)
    return decide(states, at, engine, slo)
