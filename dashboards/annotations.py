"""The annotation every dashboard carries: the faults of chaos experiments, from ``chaos_fault_active``.

A graph that dips during a game day is explained by the fault drawn across it. The query is not
scoped to the engine and cluster variables: a fault on one engine moves the gateway's and the other
engines' graphs too (a gateway restart has no engine of its own to filter on).

Grafana turns the points of each series whose value is above 0 into regions, joining points at most
one step apart; ``max_over_time`` over ``$__interval`` (the step) keeps a fault shorter than the step
from falling between two points. Grouping by the fault's labels drops the exporting process's
instance, a new port each run.
"""

from __future__ import annotations

from typing import Any

from dashboards import promql as q
from dashboards.variables import DATASOURCE
from exporters import contract as c

NAME = "Chaos faults"
#: Grafana's minimum step for the query: the production scrape interval.
STEP = "15s"
TITLE = "chaos: {{action}} on {{engine}} {{pod}}"
TEXT = "experiment {{experiment}}, step {{step}}; cluster {{cluster}}, node {{node}}"
TAG_KEYS = ("experiment", "action", "engine", "cluster", "pod")


def chaos_expr() -> str:
    active = f"max_over_time({q.sel(c.CHAOS_FAULT_ACTIVE, scoped=False)}[$__interval])"
    return f"{q.sum_by(c.CHAOS_FAULT_ACTIVE.labels, active, 'max')} > 0"


def chaos_faults() -> dict[str, Any]:
    """The annotation in Grafana's JSON model: the query in ``target`` (Grafana 10) and at the top level
    (older Grafana reads ``expr`` and ``step`` there, newer moves them into ``target``)."""
    expr = chaos_expr()
    return {
        "name": NAME, "datasource": DATASOURCE, "enable": True, "hide": False, "iconColor": "orange",
        "expr": expr, "step": STEP, "target": {"refId": "Anno", "expr": expr, "interval": STEP},
        "titleFormat": TITLE, "textFormat": TEXT, "tagKeys": ",".join(TAG_KEYS), "useValueForTime": False,
    }
