"""The local backend: the embedded orchestrator, in process, and the Stack that owns the gateway.

The orchestrator signals only pods it owns, by PID, and says so in its event log; this backend adds
nothing of its own to that path. Gray faults (backends/pod_faults.py) act on the PID and port the
orchestrator reports for one of its pods, read at the moment of injection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import httpx

from chaos.backend import BackendError, EngineInfo, GatewayRestart, PodFault, PodInfo, Unsupported
from chaos.backends import _os, pod_faults
from chaos.kernel import stress
from engines.orchestrator import OrchestratorError

if TYPE_CHECKING:
    from engines.orchestrator import Orchestrator


class GatewayOwner(Protocol):
    """What owns the gateway process (the local Stack): the only thing that can restart it."""

    @property
    def gateway_url(self) -> str: ...
    @property
    def gateway(self) -> Any: ...  # a ManagedProcess: .pid and .alive
    def restart_gateway(self) -> tuple[int | None, int | None]: ...


class LocalBackend:
    name = "local"

    def __init__(self, orchestrator: Orchestrator, stack: GatewayOwner | None = None) -> None:
        self.orchestrator = orchestrator
        self.stack = stack
        self._client = httpx.Client(timeout=0.5)

    @classmethod
    def from_stack(cls, stack: Any) -> LocalBackend:
        assert stack.orchestrator is not None, "the stack is not started"
        return cls(stack.orchestrator, stack)

    def pods(self) -> list[PodInfo]:
        return [PodInfo.from_dict(p.to_dict()) for p in self.orchestrator.pods()]

    def engines(self) -> list[EngineInfo]:
        return [EngineInfo.from_dict(e.to_dict()) for e in self.orchestrator.snapshot()]

    def signal(self, pod: str, sig: str) -> int:
        try:
            return self.orchestrator.signal_pod(pod, sig)
        except OrchestratorError as e:
            raise BackendError(str(e)) from None

    def events(self, since: int = 0) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.orchestrator.events(since)]

    def last_event_seq(self) -> int:
        events = self.orchestrator.events(0)
        return events[-1].seq if events else 0

    def drain_node(self, pod: str) -> dict[str, Any]:
        return self._operation(lambda: self.orchestrator.drain_node(pod))

    def upgrade(self, engine: str, version: str) -> dict[str, Any]:
        # An experiment, not a release: the error-budget gate is overridden (the operation's events say so).
        return self._operation(lambda: self.orchestrator.upgrade(engine, version, override_budget_gate=True))

    def failover(self, engine: str, clusters: list[str]) -> dict[str, Any]:
        return self._operation(lambda: self.orchestrator.failover(engine, clusters))

    def restart_gateway(self) -> GatewayRestart:
        if self.stack is None or not hasattr(self.stack, "restart_gateway"):
            raise Unsupported("restart_gateway needs the Stack that started the gateway")
        old, new = self.stack.restart_gateway()
        return GatewayRestart(old, new, self.stack.gateway_url)

    def gateway_pid(self) -> int | None:
        gateway = self.stack.gateway if self.stack else None
        return gateway.pid if gateway is not None and gateway.alive else None

    def process_status(self, pid: int) -> str | None:
        return _os.process_status(pid)

    def node_status(self, pod: str) -> dict[str, Any] | None:
        try:
            url = self.orchestrator.pod(pod).url
        except OrchestratorError:
            return None
        return _os.node_status(url, client=self._client)

    # --- gray faults ----------------------------------------------------------------------------------

    def _owned(self, pod: str) -> tuple[int, int | None]:
        """PID and port of the pod's current process, from the orchestrator that started it."""
        try:
            snapshot = self.orchestrator.pod(pod)
        except OrchestratorError as e:
            raise BackendError(str(e)) from None
        if snapshot.pid is None:
            raise BackendError(f"pod {pod!r} has no running process (state {snapshot.state})")
        return snapshot.pid, snapshot.port

    def throttle_cpu(self, pod: str, cpus: float) -> PodFault:
        pid, _ = self._owned(pod)
        return pod_faults.CpuThrottle(pod, pid, cpus)

    def limit_memory(self, pod: str, limit_bytes: int) -> PodFault:
        pid, _ = self._owned(pod)
        return pod_faults.MemoryLimit(self.orchestrator, pod, pid, limit_bytes)

    def partition(self, pod: str, reject: bool = False, probability: float | None = None) -> PodFault:
        pid, port = self._owned(pod)
        if port is None:
            raise BackendError(f"pod {pod!r} has not reported its port yet")
        return pod_faults.PortFault(pod, pid, port, reject, probability)

    def noisy_neighbor(self, pod: str, kind: str, workers: int, vm_bytes: int, cpus: float,
                       timeout_s: float) -> PodFault:
        pid, _ = self._owned(pod)
        spec = stress.StressSpec(kind, workers, timeout_s, vm_bytes)
        return pod_faults.NoisyNeighbor(pod, pid, spec, cpus, self.orchestrator.state_dir / "chaos")

    def slow_storage(self, pod: str, latency_s: float) -> PodFault:
        pid, _ = self._owned(pod)
        return pod_faults.StorageLatency(self.orchestrator, pod, pid, latency_s)

    @staticmethod
    def _operation(call: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = call().to_dict()
        except OrchestratorError as e:
            result_obj = getattr(e, "result", None)
            raise BackendError(str(e) if result_obj is None else f"{e} ({result_obj.to_dict()})") from None
        return result
