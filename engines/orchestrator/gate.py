"""The error-budget release gate as the orchestrator applies it to upgrades.

Before a blue-green upgrade the orchestrator asks the SLO service (foundation.budget_gate) whether the
engine's SLOs leave budget for a release. Denied: the upgrade is refused (409) naming the SLO and its
budget. No answer: refused too, fail closed, since an unknown budget may be a spent one. Either way
``override_budget_gate`` proceeds, and the ``budget_gate`` event records the decision and the override.
A rollback to the version that ran before is never gated: it is how a spent budget is stopped from
burning further. Without a gate URL (no SLO service) upgrades are not gated.
"""

from __future__ import annotations

from typing import Any

from engines.orchestrator.errors import BudgetGateRefused
from engines.orchestrator.events import EventLog
from foundation.budget_gate import BudgetGateClient, GateUnavailable

OVERRIDE_HINT = "override with override_budget_gate: true (CLI: --override-budget-gate)"


class ReleaseGate:
    def __init__(self, url: str | None = None) -> None:
        self.url = url.rstrip("/") if url else None

    def check(self, events: EventLog, engine: str, version: str, previous_version: str | None,
              override: bool) -> dict[str, Any] | None:
        """The gate's record for the operation's detail, or BudgetGateRefused; None when not gated."""
        if self.url is None:
            return None
        if previous_version is not None and version == previous_version:
            return self._record(events, engine, "skipped", False,
                                f"a rollback to the previous version {version} is never gated")
        try:
            with BudgetGateClient(self.url) as client:
                answer = client.check(engine)
        except GateUnavailable as exc:
            reason = f"{exc}; upgrades are refused while the budget cannot be checked"
            if not override:
                self._record(events, engine, "unavailable", False, reason)
                raise BudgetGateRefused(f"upgrade of {engine} to {version} refused: {reason}; {OVERRIDE_HINT}") \
                    from None
            return self._record(events, engine, "unavailable", True, reason)
        decision = "allow" if answer.allow else "deny"
        if not answer.allow and not override:
            self._record(events, engine, decision, False, answer.reason)
            raise BudgetGateRefused(f"upgrade of {engine} to {version} refused by the error-budget gate: "
                                    f"{answer.reason}; {OVERRIDE_HINT}", answer.body)
        return {**self._record(events, engine, decision, override and not answer.allow, answer.reason),
                "budget_remaining": answer.body.get("budget_remaining"),
                "threshold": answer.body.get("threshold"), "evaluated_at": answer.body.get("evaluated_at")}

    def _record(self, events: EventLog, engine: str, decision: str, overridden: bool, reason: str) -> dict[str, Any]:
        record = {"decision": decision, "overridden": overridden, "reason": reason, "gate": self.url}
        events.append("budget_gate", engine=engine, **record)
        return record
