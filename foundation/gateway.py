"""The one client of the gateway's admin API for queries: the fleet's query history and the kill switch.

The CLI (`enginewatch queries`) and the runbook diagnoses use it. As with the orchestrator's client,
failures come in two kinds: ``GatewayUnavailable`` (nothing answered) and ``GatewayRefused`` (an HTTP
error answer: bad token, unknown engine or query, bad parameters; ``status`` and ``body`` say which).
"""

from __future__ import annotations

from typing import Any

import httpx

from foundation.http import HttpClient

READ_TIMEOUT_S = 10.0
#: The gateway asks every node, and each node waits up to 5 s for a killed query to end.
KILL_TIMEOUT_S = 20.0


class GatewayAPIError(RuntimeError):
    status: int | None = None
    body: dict[str, Any]


class GatewayUnavailable(GatewayAPIError):
    def __init__(self, url: str, message: str) -> None:
        self.url = url
        self.reason = message
        self.body = {}
        super().__init__(f"gateway at {url}: {message}")


class GatewayRefused(GatewayAPIError):
    def __init__(self, status: int, message: str, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        super().__init__(message)


class GatewayAdminClient(HttpClient):
    def __init__(self, url: str, token: str, client: httpx.Client | None = None) -> None:
        super().__init__(url, READ_TIMEOUT_S, client, trust_env=False)
        self.token = token

    def _unavailable(self, reason: str) -> Exception:
        return GatewayUnavailable(self.url, reason)

    def _request(self, method: str, path: str, params: dict[str, str] | None = None,
                 timeout: float = READ_TIMEOUT_S) -> dict[str, Any]:
        r = self._send(method, path, params=params, timeout=timeout,
                       headers={"Authorization": f"Bearer {self.token}"})
        try:
            body = r.json()
        except ValueError:
            body = None
        data: dict[str, Any] = body if isinstance(body, dict) else {}
        if r.status_code >= 400:
            raise GatewayRefused(r.status_code, str(data.get("error") or f"HTTP {r.status_code}"), data)
        return data

    def queries(self, engine: str | None = None, *, running: bool = False, slowest: int | None = None,
                failed: bool = False, limit: int | None = None) -> dict[str, Any]:
        """``{"queries": [...], "nodes": N, "errors": [...]}`` merged across the engine's nodes (or the fleet's)."""
        params: dict[str, str] = {}
        if engine:
            params["engine"] = engine
        if running:
            params["running"] = "1"
        if slowest is not None:
            params["slowest"] = str(slowest)
        if failed:
            params["failed"] = "1"
        if limit is not None:
            params["limit"] = str(limit)
        return self._request("GET", "/admin/queries", params)

    def running(self, engine: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.queries(engine, running=True)["queries"]
        return result

    def find(self, query_id: str, engine: str | None = None, limit: int = 10_000) -> list[dict[str, Any]]:
        """Every record of ``query_id``, live ones first (a retried query has one per attempt)."""
        live = [q for q in self.running(engine) if q.get("query_id") == query_id]
        done = [q for q in self.queries(engine, limit=limit)["queries"] if q.get("query_id") == query_id]
        return live + done

    def kill(self, query_id: str, engine: str | None = None) -> dict[str, Any]:
        """Cancel a live query wherever it runs; the answer lists the records the nodes wrote for it."""
        return self._request("POST", f"/admin/queries/{query_id}/kill", {"engine": engine} if engine else None,
                             timeout=KILL_TIMEOUT_S)
