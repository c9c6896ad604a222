"""Per-node state at the gateway: health, outstanding attempts, ejections, drain, breaker.

An ``Upstream`` is one pod at one URL. A restarted pod comes back on a new port and so as a new
``Upstream`` with a clean slate (health, breaker and drain mark), which is what a new pod deserves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from engines.gateway.breaker import CircuitBreaker

log = logging.getLogger(__name__)

#: Topology states in which the orchestrator lets a pod take traffic; the health check has the
#: last word, but a pod the orchestrator is draining or stopping gets no new queries from us.
ROUTABLE_STATES = frozenset({"RUNNING", "STARTING", ""})


@dataclass(slots=True, eq=False)  # identity semantics: it lives in a set
class InFlight:
    """An attempt waiting on this node; the health check can abandon it when the node hangs."""

    scope: asyncio.Timeout | None = None
    abandoned: bool = False

    def abandon(self) -> None:
        if self.scope is None or self.abandoned or self.scope.expired():
            return
        self.abandoned = True
        # Fire the attempt's own timeout now: asyncio turns the cancellation into a TimeoutError
        # inside the attempt, which then tells the abandonment apart from the deadline.
        with contextlib.suppress(RuntimeError):  # the attempt has just left its scope
            self.scope.reschedule(asyncio.get_running_loop().time())


@dataclass(eq=False)
class Upstream:
    engine: str
    cluster: str
    node: str
    pod: str
    url: str
    version: str = ""
    state: str = "RUNNING"  # as the topology file says
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    healthy: bool = True
    health_failures: int = 0  # consecutive failed /readyz checks
    ejections: int = 0
    drained: bool = False
    outstanding: int = 0
    last_error: str = ""
    _inflight: set[InFlight] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        parts = urlsplit(self.url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.ready_url = self.url + "/readyz"
        # Optimistic start for pods the orchestrator already calls RUNNING: routing must not wait a
        # health interval after every topology change. The first check follows at once.
        self.healthy = self.state == "RUNNING"

    @property
    def key(self) -> tuple[str, str]:
        return (self.pod, self.url)

    @property
    def routable(self) -> bool:
        """Healthy and allowed new queries, breaker aside (routing asks the breaker itself)."""
        return self.healthy and not self.drained and self.state in ROUTABLE_STATES

    @property
    def suspect(self) -> bool:
        """A health check failed but not enough of them to eject: prefer other nodes meanwhile."""
        return self.health_failures > 0

    # --- attempts -----------------------------------------------------------------------------

    def begin(self, inflight: InFlight) -> None:
        self.outstanding += 1
        self._inflight.add(inflight)

    def end(self, inflight: InFlight) -> None:
        self.outstanding -= 1
        self._inflight.discard(inflight)

    def abandon_inflight(self) -> int:
        pending = [f for f in self._inflight if not f.abandoned]
        for f in pending:
            f.abandon()
        return len(pending)

    # --- health ---------------------------------------------------------------------------------

    def mark_ready(self) -> None:
        if not self.healthy:
            log.info("upstream %s (%s) is healthy again", self.pod, self.url)
        self.healthy = True
        self.health_failures = 0

    def mark_unready(self, reason: str) -> None:
        """The node answered that it takes no new queries (draining, starting): no ejection, and its
        in-flight queries are left to finish — that is what draining is for."""
        if self.healthy:
            log.info("upstream %s (%s) is not ready: %s", self.pod, self.url, reason)
        self.healthy = False
        self.health_failures = 0
        self.last_error = reason

    def eject(self, reason: str) -> None:
        """The node does not answer at all (killed, hung, unreachable)."""
        if self.healthy:
            self.ejections += 1
            log.warning("ejecting upstream %s (%s): %s", self.pod, self.url, reason)
        self.healthy = False
        self.last_error = reason

    def describe(self) -> dict[str, Any]:
        return {
            "engine": self.engine, "cluster": self.cluster, "node": self.node, "pod": self.pod,
            "url": self.url, "version": self.version, "state": self.state, "healthy": self.healthy,
            "routable": self.routable, "drained": self.drained, "breaker": self.breaker.state,
            "outstanding": self.outstanding, "ejections": self.ejections,
            "health_failures": self.health_failures, "last_error": self.last_error,
        }
