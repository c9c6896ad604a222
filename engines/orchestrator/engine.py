"""The orchestrator's live model of an engine: its clusters, their node slots and pods, its state.

Cluster names are never reused within an engine (``c1, c2`` then ``c3, c4`` after an upgrade), so a
blue and a green cluster can never be confused in the topology, in metrics or in a chaos verdict.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum

from engines.orchestrator.fleet import EngineSpec
from engines.orchestrator.lifecycle import EngineState, check_transition
from engines.orchestrator.pod import Pod


class ClusterState(StrEnum):
    STARTING = "STARTING"  # pods starting; not routed to yet (a green cluster, a scale-out)
    RUNNING = "RUNNING"
    DRAINING = "DRAINING"  # switched away from; pods finishing their queries before they stop


@dataclass
class Cluster:
    name: str
    version: str
    desired_nodes: int
    state: ClusterState = ClusterState.STARTING
    #: node slot (n1, n2 ...) → its current pod
    nodes: dict[str, Pod] = field(default_factory=dict)
    #: node slot → generation of its latest pod: a replacement pod gets the next one (and a new name)
    generations: dict[str, int] = field(default_factory=dict)

    def next_generation(self, node: str) -> int:
        self.generations[node] = self.generations.get(node, 0) + 1
        return self.generations[node]


class Engine:
    def __init__(self, spec: EngineSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.type = spec.type
        self.drain = spec.drain
        self.nodes_per_cluster = spec.nodes_per_cluster
        self.desired_clusters = spec.clusters
        self.version = spec.version
        self.previous_version: str | None = None
        self.state = EngineState.STOPPED
        self.clusters: dict[str, Cluster] = {}
        self.active: list[str] = []
        self._next_cluster = 1
        #: One operation at a time per engine; held for the whole operation, unlike the fleet lock.
        self.op_lock = threading.Lock()
        self.operation: str | None = None

    def transition(self, target: EngineState) -> EngineState:
        """Move to ``target`` if legal; returns the previous state."""
        check_transition(self.name, self.state, target)
        previous, self.state = self.state, target
        return previous

    def new_cluster(self, version: str, nodes: int) -> Cluster:
        cluster = Cluster(f"c{self._next_cluster}", version, nodes)
        self._next_cluster += 1
        self.clusters[cluster.name] = cluster
        return cluster

    def serving_clusters(self) -> list[Cluster]:
        return [c for c in self.clusters.values() if c.state is ClusterState.RUNNING]

    def pods(self) -> list[Pod]:
        return [p for c in self.clusters.values() for p in c.nodes.values()]
