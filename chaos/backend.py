"""The backend interface: what chaos needs from a platform, whatever runs it.

Actions, rollbacks and the runner talk to this Protocol only. The local backend drives the embedded
orchestrator (in process or over its HTTP API); a Kubernetes backend implements the same calls with
the official client. Every signal goes through the platform's owner of the pods, which refuses pods it
does not own: chaos never signals a process by itself.

Gray faults (a CPU quota, a memory limit, a partition, packet loss, a noisy neighbour, slow storage)
come back as a :class:`PodFault`: the backend applies it to one pod, and the handle proves it acts,
follows the pod to a restarted process and lifts it. A backend that cannot do one raises
:class:`Unsupported` with the reason, and the step is reported as not injected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


class BackendError(RuntimeError):
    """The platform refused or failed a call (unknown pod, pod not running, operation failed)."""


class Unsupported(BackendError):
    """This backend cannot do that (e.g. restart the gateway of a stack it did not start)."""


@dataclass(frozen=True)
class PodInfo:
    pod: str
    engine: str
    cluster: str
    node: str
    version: str
    state: str
    ready: bool
    pid: int | None
    url: str | None
    restarts: int = 0
    last_exit_code: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PodInfo:
        return cls(str(d["pod"]), str(d["engine"]), str(d["cluster"]), str(d["node"]), str(d.get("version", "")),
                   str(d.get("state", "")), bool(d.get("ready")), d.get("pid"), d.get("url"),
                   int(d.get("restarts", 0) or 0), d.get("last_exit_code"))


@dataclass(frozen=True)
class EngineInfo:
    name: str
    state: str
    version: str
    active_clusters: tuple[str, ...]
    clusters: tuple[str, ...]
    desired_nodes: int
    ready_nodes: int
    previous_version: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EngineInfo:
        return cls(str(d["name"]), str(d["state"]), str(d.get("version", "")), tuple(d.get("active_clusters", ())),
                   tuple(c["name"] for c in d.get("clusters", ())), int(d.get("desired_nodes", 0)),
                   int(d.get("ready_nodes", 0)), d.get("previous_version"))


@dataclass(frozen=True)
class GatewayRestart:
    old_pid: int | None
    new_pid: int | None
    url: str
    detail: dict[str, Any] = field(default_factory=dict)


class PodFault(Protocol):
    """A lasting fault a backend put on one pod's process."""

    pod: str
    pid: int  # the process it acts on now (follow() moves it to a restarted one)

    def describe(self) -> str:
        """The mechanism, e.g. ``cgroup v1 cpu /sys/fs/cgroup/cpu/enginewatch/sales-c1-n1@4711: 0.05 CPU``."""
        ...

    def verify(self) -> list[str]:
        """Evidence, read back from the kernel or the node, that it acts now; BackendError when it does not."""
        ...

    def follow(self, pod: PodInfo) -> str | None:
        """The pod runs a new process (a restart): put the fault on it too, as a Kubernetes limit would
        stay on a restarted container. What was done; None when it cannot be done yet (no port yet)."""
        ...

    def lift(self) -> str:
        """Remove it (idempotent); what was removed and what it did."""
        ...

    def figures(self) -> dict[str, Any]:
        """What it did so far: throttled time, OOM kills, packets dropped, reads delayed ..."""
        ...


@runtime_checkable
class ChaosBackend(Protocol):
    name: str

    def pods(self) -> list[PodInfo]: ...

    def engines(self) -> list[EngineInfo]: ...

    def signal(self, pod: str, sig: str) -> int:
        """Send KILL, TERM, STOP or CONT to the pod's current process; the PID signaled."""
        ...

    def events(self, since: int = 0) -> list[dict[str, Any]]:
        """The platform's lifecycle events after sequence number ``since`` (dicts with seq, ts, kind ...)."""
        ...

    def last_event_seq(self) -> int: ...

    def drain_node(self, pod: str) -> dict[str, Any]:
        """Graceful drain through the platform: stop routing, SIGTERM, wait, replace. The operation result."""
        ...

    def upgrade(self, engine: str, version: str) -> dict[str, Any]: ...

    def failover(self, engine: str, clusters: list[str]) -> dict[str, Any]: ...

    def restart_gateway(self) -> GatewayRestart: ...

    def gateway_pid(self) -> int | None: ...

    def process_status(self, pid: int) -> str | None:
        """The OS status of a process of the platform ("running", "sleeping", "stopped" ...), None if gone."""
        ...

    def node_status(self, pod: str) -> dict[str, Any] | None:
        """The node's own view (running and queued queries), None when it does not answer."""
        ...

    # --- gray faults: each lasts until lifted ----------------------------------------------------------

    def throttle_cpu(self, pod: str, cpus: float) -> PodFault:
        """At most ``cpus`` CPUs for the pod (a Kubernetes CPU limit): a slow node."""
        ...

    def limit_memory(self, pod: str, limit_bytes: int) -> PodFault:
        """A memory limit for the pod: past it the kernel's OOM killer ends it (restart reason oom)."""
        ...

    def partition(self, pod: str, reject: bool = False, probability: float | None = None) -> PodFault:
        """Drop (or refuse) the pod's TCP traffic; with ``probability``, drop that share of packets."""
        ...

    def noisy_neighbor(self, pod: str, kind: str, workers: int, vm_bytes: int, cpus: float,
                       timeout_s: float) -> PodFault:
        """stress-ng workers sharing the pod's CPU budget of ``cpus``, for at most ``timeout_s``."""
        ...

    def slow_storage(self, pod: str, latency_s: float) -> PodFault:
        """``latency_s`` more before each object-storage read of the pod's node."""
        ...
