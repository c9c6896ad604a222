"""Playbooks of saturation alerts: query slots, the queue, memory."""

from __future__ import annotations

from alerts import platform as pl
from runbooks.diagnosis import alerts, fleet, saturation
from runbooks.playbooks.common import DRAIN_NODE, SCALE_OUT, SCALE_UP
from runbooks.playbooks.model import Playbook

_CHECKS = (saturation.slots, saturation.queue, saturation.cpu, fleet.capacity)


def playbooks(summaries: dict[str, str]) -> list[Playbook]:
    return [
        Playbook(
            pl.ENGINE_QUERY_SLOTS_SATURATED, summaries[pl.ENGINE_QUERY_SLOTS_SATURATED],
            meaning=("Nearly every query slot of the cluster's nodes has been busy for the alert's `for:` "
                     "duration: the cluster runs as many queries as its node type allows."),
            impact=("New queries wait in the node queues (queue time adds to latency); once a queue is full the "
                    "node answers 503 overloaded and the gateway retries elsewhere or fails the query."),
            checks=(alerts.active(pl.ENGINE_QUERY_SLOTS_SATURATED), *_CHECKS),
            mitigations=(SCALE_OUT, SCALE_UP),
        ),
        Playbook(
            pl.ENGINE_QUEUE_GROWING, summaries[pl.ENGINE_QUEUE_GROWING],
            meaning=("Queries wait for a slot in the cluster's node queues and their number keeps growing: "
                     "queries arrive faster than the slots finish them."),
            impact=("Queue time grows with every query; when the queue is full queries fail as overloaded. The "
                    "latency SLO burns first, then the availability SLO."),
            checks=(alerts.active(pl.ENGINE_QUEUE_GROWING), *_CHECKS),
            mitigations=(SCALE_OUT, SCALE_UP),
        ),
        Playbook(
            pl.ENGINE_MEMORY_SATURATION, summaries[pl.ENGINE_MEMORY_SATURATION],
            meaning=("A node's resident memory has been above 90% of its node type's memory limit for the alert's "
                     "`for:` duration."),
            impact=("Large queries spill to local disk (slower) or fail with oom; a node that grows past its "
                    "limit may be killed and restarted, failing everything it runs."),
            checks=(alerts.active(pl.ENGINE_MEMORY_SATURATION), saturation.memory, saturation.slots,
                    fleet.timeline, fleet.capacity),
            mitigations=(DRAIN_NODE, SCALE_UP),
        ),
    ]
