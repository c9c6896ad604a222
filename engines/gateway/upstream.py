"""Per-node state at the gateway: health, outstanding attempts, ejections, drain, breaker.

An ``Upstream`` is one pod at one URL. A restarted pod comes back on a new port and so as a new
``Upstream`` with a clean slate (health, breaker and drain mark), which is what a new pod deserves.

Two kinds of ejection, by how they end. A node that does not answer (``refused``, ``unresponsive``)
is back at its next answered health check: it either answers or it does not. A node that answers
too slowly (``latency``, decided by ``engines.gateway.outlier``) stays out for a back-off period
whatever its checks say meanwhile, because an ejected slow node has no load and so answers its checks
fast: readmitting it at once would route clients to it again, over and over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from engines.gateway.breaker import CircuitBreaker
from exporters.gateway_metrics import UpstreamSeries

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
    #: Health-check latency, an EWMA over the answered (or timed-out) checks; None before the first.
    probe_ewma_s: float | None = None
    slow_probes: int = 0  # consecutive checks after which the EWMA was an outlier among the peers
    latency_ejected: bool = False
    latency_ejected_until: float = 0.0  # monotonic time at which the back-off ends
    latency_ejections: int = 0  # consecutive latency ejections: the exponent of the back-off
    readmitted_at: float = 0.0
    #: Back from an unresponsive ejection, not yet seen by the outlier detector, which then starts the
    #: node's resume grace (``latency_grace_until``, its clock).
    resumed: bool = False
    latency_grace_until: float = 0.0
    #: The node's own series (health-check latency, ejections); set once the gateway tracks it.
    series: UpstreamSeries | None = field(default=None, repr=False)
    _ejected_for: str | None = field(default=None, repr=False)
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
        return self.healthy and not self.latency_ejected and not self.drained and self.state in ROUTABLE_STATES

    @property
    def ejection(self) -> str | None:
        """Why the node is out of routing now (a reason of the contract), None when it is not ejected.

        Latency first: a slow node that also timed out a check is held by the longer-lasting verdict.
        """
        if self.latency_ejected:
            return "latency"
        return None if self.healthy else self._ejected_for

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
            if self._ejected_for == "unresponsive" and not self.latency_ejected:
                # Its unanswered checks were acted on by that ejection; judging them again as latency
                # would eject a node that resumed after a short hang a second time, for a back-off,
                # and repeated hangs across a cluster would then leave it without nodes. From here
                # its latency is what it answers, once it has caught up on what it missed (the outlier
                # detector's resume grace). (Unresponsive long enough to be judged slow meanwhile, it
                # stays latency-ejected: the outlier detector decided while it was out.)
                self.probe_ewma_s, self.slow_probes, self.resumed = None, 0, True
        self.healthy = True
        self.health_failures = 0
        self._ejected_for = None

    def mark_unready(self, reason: str) -> None:
        """The node answered that it takes no new queries (draining, starting): no ejection, and its
        in-flight queries are left to finish — that is what draining is for."""
        if self.healthy:
            log.info("upstream %s (%s) is not ready: %s", self.pod, self.url, reason)
        self.healthy = False
        self.health_failures = 0
        self.last_error = reason
        self._ejected_for = None

    def eject(self, reason: str, detail: str) -> None:
        """The node does not answer at all: ``refused`` (killed, restarting) or ``unresponsive`` (hung,
        unreachable). Counted once per ejection, not once per failed attempt that confirms it."""
        if self.healthy:
            self._count_ejection(reason)
            log.warning("ejecting upstream %s (%s), %s: %s", self.pod, self.url, reason, detail)
        self._ejected_for = reason  # the latest evidence: a hung node that then refuses has died
        self.healthy = False
        self.last_error = detail

    def eject_for_latency(self, until: float, detail: str) -> None:
        """Out of routing until ``until`` (monotonic), whatever the health checks say meanwhile."""
        self.latency_ejected = True
        self.latency_ejected_until = until
        self.latency_ejections += 1
        self._count_ejection("latency")
        self.last_error = detail
        log.warning("ejecting upstream %s (%s) as a latency outlier: %s", self.pod, self.url, detail)

    def readmit(self, now: float) -> None:
        """The latency back-off is over and the node is no outlier now: routable again if healthy."""
        self.latency_ejected = False
        self.readmitted_at = now
        log.info("upstream %s (%s) readmitted after its latency back-off", self.pod, self.url)

    def _count_ejection(self, reason: str) -> None:
        self.ejections += 1
        if self.series is not None:
            self.series.count_ejection(reason)

    def describe(self) -> dict[str, Any]:
        return {
            "engine": self.engine, "cluster": self.cluster, "node": self.node, "pod": self.pod,
            "url": self.url, "version": self.version, "state": self.state, "healthy": self.healthy,
            "routable": self.routable, "drained": self.drained, "breaker": self.breaker.state,
            "outstanding": self.outstanding, "ejections": self.ejections, "ejection": self.ejection,
            "health_failures": self.health_failures, "last_error": self.last_error,
            "probe_ewma_ms": None if self.probe_ewma_s is None else round(self.probe_ewma_s * 1000, 3),
        }
