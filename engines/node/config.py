"""What a node is: its identity in the topology and its size (node type S/M/L/XL/2XL)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024


@dataclass(frozen=True)
class NodeType:
    """Capacity of a node: concurrent query slots, queue places and query-core memory, and its price."""

    name: str
    slots: int
    queue_capacity: int
    memory_limit_bytes: int
    #: Consumption units one node of this type costs per hour it runs (Firebolt's FBU, Snowflake's
    #: credits): the one rate behind engine_consumed_units_total and every cost figure.
    units_per_hour: float = 1.0

    @property
    def units_per_second(self) -> float:
        return self.units_per_hour / 3600.0


# The rate doubles with the size, as the capacity does: a bigger node is not a discount.
NODE_TYPES: dict[str, NodeType] = {
    "S": NodeType("S", slots=2, queue_capacity=8, memory_limit_bytes=256 * MIB, units_per_hour=1.0),
    "M": NodeType("M", slots=4, queue_capacity=16, memory_limit_bytes=512 * MIB, units_per_hour=2.0),
    "L": NodeType("L", slots=8, queue_capacity=32, memory_limit_bytes=1024 * MIB, units_per_hour=4.0),
    "XL": NodeType("XL", slots=16, queue_capacity=64, memory_limit_bytes=2048 * MIB, units_per_hour=8.0),
    "2XL": NodeType("2XL", slots=32, queue_capacity=128, memory_limit_bytes=4096 * MIB, units_per_hour=16.0),
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
    #: Where the query history is kept across restarts of the pod; None keeps it in memory only.
    history_dir: Path | None = None
    #: First-byte latency of every object-storage read, in seconds: the storage tier's own, not a fault
    #: (a remote or cold object store; 0: the local disk as it is). Faults add to it.
    storage_latency_s: float = 0.0
