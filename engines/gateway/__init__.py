"""The gateway: one client endpoint that routes queries to healthy engine nodes.

``python -m engines.gateway --topology FILE --port 0 --port-file PATH --admin-token-file PATH``.
Health checks with outlier ejection, least-outstanding routing, retries with backoff and jitter
within a deadline (read-only or idempotent statements only), per-node circuit breakers, and an admin
API for blue-green switches and drains. See docs/architecture.md, "Gateway".
"""

from engines.gateway.app import create_app
from engines.gateway.breaker import CircuitBreaker
from engines.gateway.gateway import BreakerConfig, Gateway, GatewayConfig
from engines.gateway.health import HealthConfig
from engines.gateway.retry import Backoff, RetryPolicy, is_read_only, may_retry
from engines.gateway.server import serve
from engines.gateway.topology import Topology, TopologyError, load_topology

__all__ = [
    "Backoff", "BreakerConfig", "CircuitBreaker", "Gateway", "GatewayConfig", "HealthConfig",
    "RetryPolicy", "Topology", "TopologyError", "create_app", "is_read_only", "load_topology",
    "may_retry", "serve",
]
