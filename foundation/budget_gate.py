"""The client of the SLO service's release gate (``GET /api/v1/gate?engine=...``): the orchestrator asks
it before an upgrade. The engines may not import slo, so they talk to it over HTTP through this.

Two outcomes a caller must tell apart: a ``GateAnswer`` (allow or deny, with the service's reason) and
``GateUnavailable`` (no usable answer: nothing listened, a timeout, Prometheus down behind the
service, a bad URL), which says nothing about the budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from foundation.http import HttpClient

TIMEOUT_S = 10.0  # the orchestrator asks while it holds the engine's operation lock: bounded, not short


class GateUnavailable(RuntimeError):
    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"the release gate at {url} gave no answer: {reason}")


@dataclass(frozen=True)
class GateAnswer:
    allow: bool
    reason: str
    body: dict[str, Any]  # the service's whole answer: budget, threshold, evaluated_at, checks


class BudgetGateClient(HttpClient):
    def __init__(self, url: str, timeout: float = TIMEOUT_S, client: httpx.Client | None = None) -> None:
        super().__init__(url, timeout, client)

    def _unavailable(self, reason: str) -> Exception:
        return GateUnavailable(self.url, reason)

    def check(self, engine: str | None = None) -> GateAnswer:
        """The verdict over every SLO that covers ``engine`` (every SLO when None)."""
        r = self._send("GET", "/api/v1/gate", params={"engine": engine} if engine else None)
        try:
            body = r.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise GateUnavailable(self.url, f"HTTP {r.status_code} without a JSON object")
        if r.status_code != 200:
            detail = body.get("data_source") or body.get("error") or ""
            raise GateUnavailable(self.url, f"HTTP {r.status_code}: {body.get('error', '')}"
                                  + (f" ({detail})" if detail and detail != body.get("error") else ""))
        if not isinstance(body.get("allow"), bool):
            raise GateUnavailable(self.url, "the answer has no allow/deny decision")
        return GateAnswer(body["allow"], str(body.get("reason", "")), body)
