"""Playbooks of gray failures: a node that answers, slowly."""

from __future__ import annotations

from alerts import platform as pl
from runbooks.diagnosis import alerts, fleet, gateway, gray, nodes, saturation
from runbooks.playbooks.common import DRAIN_NODE, FAILOVER, RESTART_POD
from runbooks.playbooks.model import Playbook


def playbooks(summaries: dict[str, str]) -> list[Playbook]:
    return [
        Playbook(
            pl.ENGINE_NODE_LATENCY_OUTLIER, summaries[pl.ENGINE_NODE_LATENCY_OUTLIER],
            meaning=("One node of a cluster is far slower than its peers while it still answers: a gray failure. "
                     "The gateway holds it out of routing as a latency outlier for most of the window, or its "
                     "health checks at the gateway or its lookups take several times those of the fastest node of "
                     "its cluster, or its cgroup's CPU quota throttles it in most periods. No query needs to fail "
                     "for this alert: the gateway routes around the node, which is exactly why nothing else pages. "
                     "The usual causes: a CPU limit too low (throttled), a network partition (the gateway cannot "
                     "reach a process that runs), repeated OOM kills, slow object-storage reads, CPU contention."),
            impact=("The cluster serves with less capacity: the gateway sends the node fewer queries or none, so its "
                    "peers carry its load and their queues grow. Queries that do land on it are slow, and read "
                    "queries in flight when it is ejected are retried elsewhere (higher latency); writes without an "
                    "idempotency key in flight at an ejection fail. If every node of a cluster degrades, the "
                    "cluster's share moves to the engine's other clusters."),
            checks=(alerts.active(pl.ENGINE_NODE_LATENCY_OUTLIER), gray.outliers, gray.cause, gray.partition,
                    gateway.upstreams,
                    nodes.restarts, saturation.cpu, fleet.pods, fleet.timeline),
            mitigations=(DRAIN_NODE, RESTART_POD, FAILOVER),
        ),
    ]
