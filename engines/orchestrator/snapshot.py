"""Immutable snapshots of the fleet: what the API returns, the exporter measures and the publisher writes.

Taken under the orchestrator's lock in one go, so every reader sees one consistent moment and never
holds the lock while doing I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PodSnapshot:
    pod: str
    engine: str
    cluster: str
    node: str
    version: str
    type: str
    state: str
    ready: bool
    pid: int | None
    port: int | None
    url: str | None
    generation: int
    restarts_by_reason: dict[str, int]
    started_at: float | None  # wall clock of the current process
    last_exit_code: int | None

    @property
    def restarts(self) -> int:
        return sum(self.restarts_by_reason.values())

    @property
    def live(self) -> bool:
        return self.url is not None and self.pid is not None

    def to_dict(self) -> dict[str, Any]:
        return {"pod": self.pod, "engine": self.engine, "cluster": self.cluster, "node": self.node,
                "version": self.version, "type": self.type, "state": self.state, "ready": self.ready,
                "pid": self.pid, "port": self.port, "url": self.url, "generation": self.generation,
                "restarts": self.restarts, "restarts_by_reason": dict(self.restarts_by_reason),
                "started_at": self.started_at, "last_exit_code": self.last_exit_code}


@dataclass(frozen=True)
class ClusterSnapshot:
    name: str
    version: str
    state: str
    desired_nodes: int
    pods: tuple[PodSnapshot, ...]

    @property
    def ready_nodes(self) -> int:
        return sum(p.ready for p in self.pods)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "state": self.state,
                "desired_nodes": self.desired_nodes, "ready_nodes": self.ready_nodes,
                "pods": [p.pod for p in self.pods]}


@dataclass(frozen=True)
class EngineSnapshot:
    name: str
    type: str
    state: str
    version: str
    nodes_per_cluster: int
    desired_clusters: int
    min_clusters: int
    max_clusters: int
    active_clusters: tuple[str, ...]
    clusters: tuple[ClusterSnapshot, ...]
    operation: str | None  # the operation in progress, if any
    previous_version: str | None  # before the last upgrade: what a rollback upgrades back to

    @property
    def ready_nodes(self) -> int:
        return sum(c.ready_nodes for c in self.clusters)

    @property
    def desired_nodes(self) -> int:
        return sum(c.desired_nodes for c in self.clusters)

    @property
    def pods(self) -> tuple[PodSnapshot, ...]:
        return tuple(p for c in self.clusters for p in c.pods)

    def cluster(self, name: str) -> ClusterSnapshot:
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "state": self.state, "version": self.version,
                "nodes_per_cluster": self.nodes_per_cluster, "desired_clusters": self.desired_clusters,
                "min_clusters": self.min_clusters, "max_clusters": self.max_clusters,
                "active_clusters": list(self.active_clusters), "ready_nodes": self.ready_nodes,
                "desired_nodes": self.desired_nodes, "operation": self.operation,
                "previous_version": self.previous_version,
                "clusters": [c.to_dict() for c in self.clusters]}
