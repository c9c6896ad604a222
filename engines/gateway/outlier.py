"""Latency outlier ejection: a node that answers its health checks far more slowly than its cluster peers.

A throttled, starved or swapping node is a gray failure: it answers, so connection errors and check
timeouts (``engines.gateway.health``) catch it late or never, and least-outstanding routing only
sends it fewer queries, each of which is slow. The health check is the one request that is the same
for every node, so its latency compares nodes fairly (query latency depends on what was asked):

- each answered or timed-out check updates the node's EWMA of check latency;
- the node is slow when its EWMA exceeds ``ratio`` times the median EWMA of its healthy peers (the
  other nodes of its cluster) and ``floor_s``, so that a fleet answering in microseconds never ejects
  a node for a millisecond;
- after ``samples`` slow checks in a row it is ejected for a back-off, which doubles with every
  consecutive ejection up to ``max_ejection_s`` and is forgiven once the node has stayed fast for
  ``max_ejection_s`` after readmission;
- no ejection leaves fewer than ``1 - max_ejected_share`` of a cluster's nodes routable (Envoy's
  ``max_ejection_percent``): a slow node still serves better than no node;
- at the end of the back-off a node that is still slow is ejected again, otherwise readmitted;
- a node back from an unresponsive ejection is judged only after a short grace, once it has shed what
  piled up while it was out.

Peers share a machine and a gateway, so contention that slows everyone moves the median with it.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engines.gateway.upstream import Upstream


@dataclass(frozen=True)
class OutlierConfig:
    enabled: bool = True
    ratio: float = 5.0
    floor_s: float = 0.02  # 4-10x a healthy check on loopback; the ratio guards against contention
    samples: int = 5  # at one check per 0.2 s: one second of slowness
    alpha: float = 0.3  # weight of the newest check in the EWMA
    base_ejection_s: float = 5.0
    max_ejection_s: float = 60.0
    max_ejected_share: float = 0.5
    #: A node back from an unresponsive ejection (a hang, a partition) first sheds what piled up while
    #: it was out (abandoned queries, the rush of new ones least-outstanding routing sends an idle
    #: node): its checks are slow for a moment by nature, not because it is a slow node. Judged meanwhile,
    #: it would be held out for a back-off after every short hang. Its EWMA is kept up to date.
    resume_grace_s: float = 2.0

    def __post_init__(self) -> None:
        if self.resume_grace_s < 0:
            raise ValueError("resume_grace_s must be >= 0")
        if self.ratio <= 1 or self.floor_s < 0 or self.samples < 1 or not 0 < self.alpha <= 1:
            raise ValueError("outlier ejection needs ratio > 1, floor >= 0, samples >= 1 and 0 < alpha <= 1")
        if self.base_ejection_s <= 0 or self.max_ejection_s < self.base_ejection_s:
            raise ValueError("outlier ejection needs 0 < base_ejection_s <= max_ejection_s")
        if not 0 <= self.max_ejected_share <= 1:
            raise ValueError("max_ejected_share must be within [0, 1]")

    def backoff_s(self, ejections: int) -> float:
        """How long the ``ejections``-th consecutive ejection lasts."""
        return min(self.max_ejection_s, self.base_ejection_s * 2 ** max(0, ejections - 1))


class LatencyOutliers:
    """Judges each health check of an upstream against its peers; ``peers(u)`` is u's cluster, u included."""

    def __init__(self, config: OutlierConfig, peers: Callable[[Upstream], Sequence[Upstream]],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._peers = peers
        self._clock = clock

    def observe(self, upstream: Upstream, seconds: float) -> None:
        """One health check of ``upstream`` took ``seconds`` (answered, or timed out at its timeout)."""
        cfg = self.config
        u = upstream
        u.probe_ewma_s = seconds if u.probe_ewma_s is None else cfg.alpha * seconds + (1 - cfg.alpha) * u.probe_ewma_s
        if not cfg.enabled:
            return
        now = self._clock()
        if u.resumed:
            u.resumed, u.latency_grace_until = False, now + cfg.resume_grace_s
        cluster = self._peers(u)
        baseline = self._baseline(u, cluster)
        slow = (baseline is not None and u.probe_ewma_s > max(cfg.ratio * baseline, cfg.floor_s)
                and now >= u.latency_grace_until)
        u.slow_probes = u.slow_probes + 1 if slow else 0
        if u.latency_ejected:
            if now < u.latency_ejected_until:
                return
            if u.slow_probes >= cfg.samples:
                u.eject_for_latency(now + cfg.backoff_s(u.latency_ejections + 1),
                                    self._detail(u, baseline, "still slow after its back-off"))
            else:
                u.readmit(now)
            return
        if u.slow_probes >= cfg.samples:
            if self._may_eject(u, cluster):
                u.eject_for_latency(now + cfg.backoff_s(u.latency_ejections + 1), self._detail(u, baseline))
                u.abandon_inflight()  # its queries are slow too: read queries retry on a peer
        elif not slow and u.latency_ejections and now - u.readmitted_at >= cfg.max_ejection_s:
            u.latency_ejections = 0  # fast for a whole maximal back-off: the next ejection starts short

    def _baseline(self, u: Upstream, cluster: Sequence[Upstream]) -> float | None:
        """The median check latency of the healthy peers; None without any (nothing to compare with)."""
        peers = [p.probe_ewma_s for p in cluster
                 if p is not u and p.probe_ewma_s is not None and p.healthy and not p.latency_ejected]
        return statistics.median(peers) if peers else None

    def _may_eject(self, u: Upstream, cluster: Sequence[Upstream]) -> bool:
        if not u.routable:
            return True  # out already (unready, unresponsive): holding it out takes no capacity away
        allowed = math.floor(self.config.max_ejected_share * len(cluster))
        out = sum(1 for p in cluster if not p.routable)
        return out + 1 <= allowed

    def _detail(self, u: Upstream, baseline: float | None, why: str = "") -> str:
        ewma = (u.probe_ewma_s or 0.0) * 1000
        peers = (baseline or 0.0) * 1000
        text = f"health checks take {ewma:.1f} ms (EWMA), its cluster peers {peers:.1f} ms"
        return f"{text}; {why}" if why else text
