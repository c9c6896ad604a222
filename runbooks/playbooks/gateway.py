"""Playbooks of the gateway's alerts: no healthy upstream for an engine, and failover storms."""

from __future__ import annotations

from alerts import platform as pl
from runbooks.diagnosis import alerts, fleet, gateway, nodes
from runbooks.playbooks.common import DRAIN_NODE, FAILOVER, RESTART_POD, SCALE_OUT
from runbooks.playbooks.model import Playbook


def playbooks(summaries: dict[str, str]) -> list[Playbook]:
    return [
        Playbook(
            pl.GATEWAY_NO_HEALTHY_UPSTREAM, summaries[pl.GATEWAY_NO_HEALTHY_UPSTREAM],
            meaning=("The gateway considers no node of the engine's active clusters healthy: every node failed "
                     "its health checks, was ejected after connection errors, or the gateway has no upstream for "
                     "the engine at all although the engine should serve."),
            impact="Every query to the engine fails at once with 503 unavailable: a full outage of the engine.",
            checks=(alerts.active(pl.GATEWAY_NO_HEALTHY_UPSTREAM), gateway.upstreams, fleet.capacity, fleet.pods,
                    nodes.scrapes, gateway.errors, gateway.breakers, fleet.timeline),
            mitigations=(FAILOVER, RESTART_POD, SCALE_OUT),
        ),
        Playbook(
            pl.GATEWAY_FAILOVER_STORM, summaries[pl.GATEWAY_FAILOVER_STORM],
            meaning=("The gateway serves many of the engine's queries on another node than the first one it "
                     "tried, because the first one failed (connection refused or reset, 5xx, ejected while the "
                     "query ran)."),
            impact=("Clients see higher latency (a failed attempt, backoff, a second attempt) and, past the "
                    "deadline or for non-retriable writes, errors. The failing nodes' share of the load moves to "
                    "the others, which may saturate them."),
            checks=(alerts.active(pl.GATEWAY_FAILOVER_STORM), gateway.failovers, gateway.errors, gateway.upstreams,
                    gateway.breakers, fleet.timeline, fleet.pods),
            mitigations=(DRAIN_NODE, FAILOVER),
        ),
    ]
