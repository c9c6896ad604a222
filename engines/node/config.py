"""What a node is: its identity in the topology and its size (node type S/M/L)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024


@dataclass(frozen=True)
class NodeType:
    """Capacity of a node: concurrent query slots, queue places and query-core memory."""

    name: str
    slots: int
    queue_capacity: int
    memory_limit_bytes: int


NODE_TYPES: dict[str, NodeType] = {
    "S": NodeType("S", slots=2, queue_capacity=8, memory_limit_bytes=256 * MIB),
    "M": NodeType("M", slots=4, queue_capacity=16, memory_limit_bytes=512 * MIB),
    "L": NodeType("L", slots=8, queue_capacity=32, memory_limit_bytes=1024 * MIB),
}


@dataclass(frozen=True)
class NodeIdentity:
    """Where the node sits in the topology; echoed in every response so clients see who answered."""

    engine: str
    cluster: str
    node: str
    pod: str
    version: str

    def as_fields(self) -> dict[str, str]:
        return {"engine": self.engine, "cluster": self.cluster, "node": self.node, "pod": self.pod}


@dataclass(frozen=True)
class NodeConfig:
    identity: NodeIdentity
    node_type: NodeType
    storage: Path
    port: int = 0
    port_file: Path | None = None
    grace_s: float = 30.0
    query_timeout_s: float = 30.0
    drain: bool = True
    #: Bearer token of the admin API (fault knobs); None switches the admin API off.
    admin_token: str | None = None
