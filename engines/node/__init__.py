"""An engine node: one process = one pod, a DuckDB query core behind an HTTP API.

Run it with ``python -m engines.node`` (see docs/architecture.md for the arguments and routes).
"""

from __future__ import annotations

from typing import Any

from engines.node.config import NODE_TYPES, NodeConfig, NodeIdentity, NodeType

__all__ = ["NODE_TYPES", "RETRIABLE", "STATUS_BY_ERROR", "NodeConfig", "NodeIdentity", "NodeType", "run"]


def __getattr__(name: str) -> Any:
    # The server side (DuckDB, uvicorn, pyarrow: a second of imports) loads on first use only: the
    # orchestrator reads the node type table (sizes, rates) without paying for a query core.
    if name == "run":
        from engines.node.server import run

        return run
    if name in ("RETRIABLE", "STATUS_BY_ERROR"):
        from engines.node import http

        return getattr(http, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
