"""An engine node: one process = one pod, a DuckDB query core behind an HTTP API.

Run it with ``python -m engines.node`` (see docs/architecture.md for the arguments and routes).
"""

from engines.node.config import NODE_TYPES, NodeConfig, NodeIdentity, NodeType
from engines.node.http import RETRIABLE, STATUS_BY_ERROR
from engines.node.server import run

__all__ = ["NODE_TYPES", "RETRIABLE", "STATUS_BY_ERROR", "NodeConfig", "NodeIdentity", "NodeType", "run"]
