"""Playbooks of query-level alerts: a query that runs too long."""

from __future__ import annotations

from alerts import platform as pl
from runbooks.diagnosis import alerts, queries, saturation
from runbooks.playbooks.common import KILL_QUERY, LIST_RUNNING, RESTART_POD
from runbooks.playbooks.model import Playbook


def playbooks(summaries: dict[str, str]) -> list[Playbook]:
    return [
        Playbook(
            pl.ENGINE_QUERY_RUNNING_TOO_LONG, summaries[pl.ENGINE_QUERY_RUNNING_TOO_LONG],
            meaning=("A query has been executing in a query slot of a node for longer than the alert's bound: a "
                     "runaway scan or join, a cross product, a query stuck behind slow storage. The metric says "
                     "which node; the node's query history (`GET /queries/running`, merged by the gateway) says "
                     "which query: its id, the start of its SQL, how long it has run, its trace id."),
            impact=("The query holds its slot (and memory) for as long as it runs: the node has one slot less for "
                    "everyone else, queries queue behind it, and at the query timeout it fails anyway after "
                    "costing all that time."),
            checks=(alerts.active(pl.ENGINE_QUERY_RUNNING_TOO_LONG), queries.running, queries.pod_errors,
                    saturation.slots, saturation.queue),
            mitigations=(KILL_QUERY, LIST_RUNNING, RESTART_POD),
        ),
    ]
