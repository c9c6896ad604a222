"""The local platform through the orchestrator's HTTP API: for a stack started by `enginewatch up`.

Reads need nothing; mutations carry the admin bearer token from run.json. The gateway is a child of
the `up` process, so this backend cannot restart it.
"""

from __future__ import annotations

from typing import Any

import httpx

from chaos.backend import BackendError, EngineInfo, GatewayRestart, PodInfo, Unsupported
from chaos.backends import _os

#: Operations are synchronous on the server: an upgrade answers once blue has drained.
OPERATION_TIMEOUT_S = 180.0


class HttpBackend:
    name = "http"

    def __init__(self, orchestrator_url: str, admin_token: str, client: httpx.Client | None = None) -> None:
        self.url = orchestrator_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {admin_token}"}
        self._client = client or httpx.Client(timeout=10.0)
        self._urls: dict[str, str | None] = {}

    def close(self) -> None:
        self._client.close()

    def _get(self, path: str, **params: Any) -> Any:
        try:
            r = self._client.get(f"{self.url}{path}", params=params or None)
        except httpx.HTTPError as e:
            raise BackendError(f"orchestrator at {self.url} unreachable: {e}") from None
        return self._body(r)

    def _post(self, path: str, body: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
        try:
            r = self._client.post(f"{self.url}{path}", json=body or {}, headers=self._headers, timeout=timeout)
        except httpx.HTTPError as e:
            raise BackendError(f"orchestrator at {self.url} unreachable: {e}") from None
        return self._body(r)

    @staticmethod
    def _body(r: httpx.Response) -> Any:
        try:
            data = r.json()
        except ValueError:
            data = {"error": r.text}
        if r.status_code >= 400:
            raise BackendError(f"HTTP {r.status_code}: {data.get('error', data) if isinstance(data, dict) else data}")
        return data

    def pods(self) -> list[PodInfo]:
        pods = [PodInfo.from_dict(p) for p in self._get("/v1/pods")]
        self._urls = {p.pod: p.url for p in pods}
        return pods

    def engines(self) -> list[EngineInfo]:
        return [EngineInfo.from_dict(e) for e in self._get("/v1/engines")]

    def signal(self, pod: str, sig: str) -> int:
        return int(self._post(f"/v1/pods/{pod}/signal", {"signal": sig})["pid"])

    def events(self, since: int = 0) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self._get("/v1/events", since=since)["events"]
        return events

    def last_event_seq(self) -> int:
        return int(self._get("/v1/events", since=0)["last_seq"])

    def drain_node(self, pod: str) -> dict[str, Any]:
        result: dict[str, Any] = self._post(f"/v1/pods/{pod}/drain", timeout=OPERATION_TIMEOUT_S)
        return result

    def upgrade(self, engine: str, version: str) -> dict[str, Any]:
        result: dict[str, Any] = self._post(f"/v1/engines/{engine}/upgrade", {"version": version},
                                            timeout=OPERATION_TIMEOUT_S)
        return result

    def failover(self, engine: str, clusters: list[str]) -> dict[str, Any]:
        result: dict[str, Any] = self._post(f"/v1/engines/{engine}/failover", {"clusters": clusters})
        return result

    def restart_gateway(self) -> GatewayRestart:
        raise Unsupported("restart_gateway needs the stack that started the gateway (use `enginewatch gameday` "
                          "or run the experiment with --boot)")

    def gateway_pid(self) -> int | None:
        return None

    def process_status(self, pid: int) -> str | None:
        return _os.process_status(pid)

    def node_status(self, pod: str) -> dict[str, Any] | None:
        # URLs from the last listing: busy targeting polls this in a tight loop right after one.
        url = self._urls.get(pod) or next((p.url for p in self.pods() if p.pod == pod), None)
        return _os.node_status(url, client=self._client)
