"""Playbooks of node-level alerts: a node that cannot be scraped, a pod that keeps restarting."""

from __future__ import annotations

from alerts import platform as pl
from runbooks.diagnosis import alerts, fleet, gateway, nodes, queries, saturation
from runbooks.playbooks.common import DRAIN_NODE, FAILOVER, RESTART_POD, ROLLBACK
from runbooks.playbooks.model import Playbook


def playbooks(summaries: dict[str, str]) -> list[Playbook]:
    return [
        Playbook(
            pl.ENGINE_NODE_DOWN, summaries[pl.ENGINE_NODE_DOWN],
            meaning=("The orchestrator runs a pod of an engine, but Prometheus has not been able to scrape its node "
                     "for the alert's `for:` duration. Either the node has no scrape target any more (the process "
                     "was killed or exited, and the pod waits in restart backoff) or its target times out (the "
                     "process is hung: stopped, deadlocked or starved)."),
            impact=("The pod's cluster serves with one node less: fewer query slots, longer queues. The gateway "
                    "ejects the node and retries its in-flight read queries elsewhere; writes without an "
                    "idempotency key fail. If every node of a cluster is down, its queries fail over to the other "
                    "clusters; if every cluster is down, GatewayNoHealthyUpstream fires."),
            checks=(alerts.active(pl.ENGINE_NODE_DOWN), nodes.scrapes, fleet.capacity, fleet.pods, fleet.timeline,
                    gateway.upstreams, gateway.failovers, queries.pod_errors),
            mitigations=(RESTART_POD, DRAIN_NODE, FAILOVER),
        ),
        Playbook(
            pl.ENGINE_POD_CRASH_LOOPING, summaries[pl.ENGINE_POD_CRASH_LOOPING],
            meaning=("A pod was restarted by the orchestrator again and again within the alert's window (restarts "
                     "asked for with `restart-pod` do not count). The reason label says why: `killed` (a signal "
                     "from outside), `crashed` or `exited` (the node ended by itself), `unhealthy` (it stopped "
                     "answering its liveness probe), `oom`."),
            impact=("Every restart fails or retries the pod's in-flight queries and takes its slots away for the "
                    "start time; the restart backoff grows, so the pod is away longer each time. A whole version "
                    "crash-looping after an upgrade takes its clusters down with it."),
            checks=(alerts.active(pl.ENGINE_POD_CRASH_LOOPING), nodes.restarts, fleet.timeline, fleet.pods,
                    fleet.capacity, saturation.memory, fleet.operations, queries.pod_errors),
            mitigations=(DRAIN_NODE, ROLLBACK, FAILOVER),
        ),
    ]
