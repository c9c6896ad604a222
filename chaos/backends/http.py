"""The local platform through the orchestrator's HTTP API: for a stack started by `enginewatch up`.

Reads need nothing; mutations carry the admin bearer token from run.json. The gateway is a child of
the `up` process, so this backend cannot restart it. Gray faults need the orchestrator in this process
(cgroups and OOM kills are told to it, the node admin token is its own): they are Unsupported here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from chaos.backend import BackendError, EngineInfo, GatewayRestart, PodFault, PodInfo, Unsupported
from chaos.backends import _os
from foundation.orchestrator import OrchestratorClient, OrchestratorRefused, OrchestratorUnavailable

#: Operations are synchronous on the server: an upgrade answers once blue has drained.
OPERATION_TIMEOUT_S = 180.0


class HttpBackend:
    name = "http"

    def __init__(self, orchestrator_url: str, admin_token: str, client: httpx.Client | None = None) -> None:
        self.url = orchestrator_url.rstrip("/")
        self._client = client or httpx.Client(timeout=10.0)
        self._api = OrchestratorClient(self.url, admin_token, self._client, mutation_timeout=OPERATION_TIMEOUT_S)
        self._urls: dict[str, str | None] = {}

    def close(self) -> None:
        self._client.close()

    @contextmanager
    def _calls(self) -> Iterator[OrchestratorClient]:
        try:
            yield self._api
        except OrchestratorUnavailable as e:
            raise BackendError(str(e)) from None
        except OrchestratorRefused as e:
            raise BackendError(f"HTTP {e.status}: {e.body.get('error', e) if e.body else e}") from None

    def pods(self) -> list[PodInfo]:
        with self._calls() as api:
            pods = [PodInfo.from_dict(p) for p in api.pods()]
        self._urls = {p.pod: p.url for p in pods}
        return pods

    def engines(self) -> list[EngineInfo]:
        with self._calls() as api:
            return [EngineInfo.from_dict(e) for e in api.engines()]

    def signal(self, pod: str, sig: str) -> int:
        with self._calls() as api:
            return api.signal(pod, sig)

    def events(self, since: int = 0) -> list[dict[str, Any]]:
        with self._calls() as api:
            return api.events(since)

    def last_event_seq(self) -> int:
        with self._calls() as api:
            return int(api.event_log(0)["last_seq"])

    def drain_node(self, pod: str) -> dict[str, Any]:
        with self._calls() as api:
            return api.drain_node(pod)

    def upgrade(self, engine: str, version: str) -> dict[str, Any]:
        with self._calls() as api:
            # An experiment, not a release: the error-budget gate is overridden (the events say so).
            return api.upgrade(engine, version, override_budget_gate=True)

    def failover(self, engine: str, clusters: list[str]) -> dict[str, Any]:
        with self._calls() as api:
            return api.failover(engine, clusters)

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

    @staticmethod
    def _in_process_only(action: str) -> Unsupported:
        return Unsupported(f"{action} needs the orchestrator in this process (it is told about the pod's cgroup "
                           "and holds the nodes' admin token): run the experiment with --boot, or in a game day")

    def throttle_cpu(self, pod: str, cpus: float) -> PodFault:
        raise self._in_process_only("throttle_cpu")

    def limit_memory(self, pod: str, limit_bytes: int) -> PodFault:
        raise self._in_process_only("limit_memory")

    def partition(self, pod: str, reject: bool = False, probability: float | None = None) -> PodFault:
        raise self._in_process_only("packet_loss" if probability is not None else "partition")

    def noisy_neighbor(self, pod: str, kind: str, workers: int, vm_bytes: int, cpus: float,
                       timeout_s: float) -> PodFault:
        raise self._in_process_only("noisy_neighbor")

    def slow_storage(self, pod: str, latency_s: float) -> PodFault:
        raise self._in_process_only("slow_storage")
