"""The backend interface: what chaos needs from a platform, whatever runs it.

Actions, rollbacks and the runner talk to this Protocol only. The local backend drives the embedded
orchestrator (in process or over its HTTP API); a Kubernetes backend implements the same calls with
the official client. Every signal goes through the platform's owner of the pods, which refuses pods it
does not own: chaos never signals a process by itself.
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
