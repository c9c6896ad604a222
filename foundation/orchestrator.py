"""The one client of the orchestrator's HTTP API: the CLI, the runbook diagnoses and chaos use it.

Every failure is an ``OrchestratorAPIError`` with a plain message. Its two kinds tell apart what a
caller must tell apart: ``OrchestratorUnavailable`` (nothing answered, so nothing is known) and
``OrchestratorRefused`` (it answered no: unknown name, busy engine, bad token, or an operation that
ran and failed; ``status`` and ``body`` say which).
"""

from __future__ import annotations

from typing import Any

import httpx

from foundation.http import HttpClient

READ_TIMEOUT_S = 10.0
#: Mutations answer when the operation is over: an upgrade waits for green clusters and a drain.
MUTATION_TIMEOUT_S = 600.0


class OrchestratorAPIError(RuntimeError):
    """The orchestrator could not do what was asked; ``status`` is None when nothing answered."""

    status: int | None = None
    body: dict[str, Any]


class OrchestratorUnavailable(OrchestratorAPIError):
    def __init__(self, url: str, message: str) -> None:
        self.url = url
        self.reason = message
        self.body = {}
        super().__init__(f"orchestrator at {url}: {message}")


class OrchestratorRefused(OrchestratorAPIError):
    """An HTTP error answer; ``body`` is its JSON (``error`` and, for failed operations, ``result``)."""

    def __init__(self, status: int, message: str, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        super().__init__(message)


class OrchestratorClient(HttpClient):
    def __init__(self, url: str, token: str | None = None, client: httpx.Client | None = None,
                 mutation_timeout: float = MUTATION_TIMEOUT_S) -> None:
        super().__init__(url, READ_TIMEOUT_S, client)
        self.token = token
        self.mutation_timeout = mutation_timeout

    def _unavailable(self, reason: str) -> Exception:
        return OrchestratorUnavailable(self.url, reason)

    def _request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                 timeout: float = READ_TIMEOUT_S) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token and method != "GET" else {}
        r = self._send(method, path, json=json, params=params, headers=headers, timeout=timeout)
        try:
            body = r.json()
        except ValueError:
            body = None
        if r.status_code >= 400:
            data = body if isinstance(body, dict) else {}
            raise OrchestratorRefused(r.status_code, str(data.get("error") or f"HTTP {r.status_code}"), data)
        return body

    # --- reads ---------------------------------------------------------------------------------------

    def engines(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._request("GET", "/v1/engines")
        return result

    def pods(self, engine: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._request("GET", "/v1/pods", params={"engine": engine} if engine else None)
        return result

    def event_log(self, since: int = 0) -> dict[str, Any]:
        """``{"events": [...], "last_seq": N}``: the events after ``since`` and the newest sequence number."""
        result: dict[str, Any] = self._request("GET", "/v1/events", params={"since": since})
        return result

    def events(self, since: int = 0) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.event_log(since)["events"]
        return result

    # --- mutations (admin token) -------------------------------------------------------------------

    def _mutate(self, path: str, body: dict[str, Any] | None = None, timeout: float | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._request("POST", path, json=body or {},
                                               timeout=timeout or self.mutation_timeout)
        return result

    def signal(self, pod: str, sig: str) -> int:
        """Send ``sig`` (a name such as SIGKILL) to one pod's process; returns its PID."""
        return int(self._mutate(f"/v1/pods/{pod}/signal", {"signal": sig}, timeout=READ_TIMEOUT_S)["pid"])

    def drain_node(self, pod: str) -> dict[str, Any]:
        return self._mutate(f"/v1/pods/{pod}/drain")

    def restart_pod(self, pod: str) -> dict[str, Any]:
        return self._mutate(f"/v1/pods/{pod}/restart")

    def failover(self, engine: str, clusters: list[str]) -> dict[str, Any]:
        return self._mutate(f"/v1/engines/{engine}/failover", {"clusters": clusters})

    def scale(self, engine: str, clusters: int | None = None, nodes_per_cluster: int | None = None) -> dict[str, Any]:
        body = {k: v for k, v in (("clusters", clusters), ("nodes_per_cluster", nodes_per_cluster)) if v is not None}
        return self._mutate(f"/v1/engines/{engine}/scale", body)

    def upgrade(self, engine: str, version: str, override_budget_gate: bool = False) -> dict[str, Any]:
        """Blue-green; refused (409, ``body["budget_gate"]``) when the error-budget gate denies, unless overridden."""
        body: dict[str, Any] = {"version": version}
        if override_budget_gate:
            body["override_budget_gate"] = True
        return self._mutate(f"/v1/engines/{engine}/upgrade", body)
