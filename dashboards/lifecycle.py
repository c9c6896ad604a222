"""Engine lifecycle: the control plane's view — engine and node states over time, orchestrator
operations, pod restarts by reason, drains, ready against desired nodes, and what the engines cost."""

from __future__ import annotations

from grafanalib.core import Dashboard

from dashboards import alert_names as alerts
from dashboards import promql as q
from dashboards.frame import dashboard
from dashboards.links import GATEWAY_UID, LIFECYCLE_UID
from dashboards.panels import Query, Row, state_timeline, timeseries
from dashboards.settings import Settings
from exporters import contract as c

TITLE = "Enginewatch / Engine lifecycle"
_EC = (q.ENGINE, q.CLUSTER)
# A colour per lifecycle state; a KeyError here means the contract gained a state to colour.
_STATE_COLORS = {"STARTING": "blue", "RUNNING": "green", "RESIZING": "purple", "DRAINING": "orange",
                 "STOPPING": "yellow", "STOPPED": "red"}
ENGINE_STATE_MAPPINGS = {i: (s, _STATE_COLORS[s]) for i, s in enumerate(c.ENGINE_STATES)}
NODE_STATE_MAPPINGS = {i: (s, _STATE_COLORS[s]) for i, s in enumerate(c.NODE_STATES)}


def build(settings: Settings) -> Dashboard:
    links = settings.links
    states = Row("States", [
        state_timeline(
            "Engine state",
            "Lifecycle state of each engine over time (STARTING, RUNNING, RESIZING, DRAINING, STOPPING, "
            "STOPPED), as the orchestrator reports it. A long band of a transitional state is an engine "
            "stuck in it.",
            [Query(q.state_index(c.ENGINE_STATE, c.ENGINE_STATES, (q.ENGINE,)), "{{engine}}")],
            ENGINE_STATE_MAPPINGS, width=24, height=6, links=[links.runbook(a) for a in alerts.ENGINE_STUCK]),
        state_timeline(
            "Node state by pod",
            "Lifecycle state each node reports about itself (STARTING, RUNNING, DRAINING, STOPPING). "
            "Drains show as DRAINING bands; a pod that vanishes has stopped or crashed.",
            [Query(q.state_index(c.NODE_STATE, c.NODE_STATES, (q.ENGINE, q.CLUSTER, q.POD)),
                   "{{engine}} / {{cluster}} / {{pod}}")],
            NODE_STATE_MAPPINGS, width=24, height=10, links=[links.runbook(alerts.ENGINE_NODE_DOWN)]),
    ])
    capacity = Row("Capacity", [
        timeseries(
            "Ready and desired nodes by cluster",
            "Nodes of each cluster that pass their readiness check, against the nodes its spec asks for. "
            "Ready below desired means lost capacity: a crash, a drain or a start in progress.",
            "short", [Query(q.gauge(c.ENGINE_READY_NODES, _EC), "ready {{engine}} / {{cluster}}"),
                      Query(q.gauge(c.ENGINE_DESIRED_NODES, _EC), "desired {{engine}} / {{cluster}}")],
            width=8, links=[links.runbook(alerts.ENGINE_NODE_DOWN)]),
        timeseries(
            "Pods not ready by cluster",
            "Pods of each cluster that fail their readiness check now.",
            "short", [Query(q.sum_by(_EC, f"1 - {q.gauge(c.ENGINE_POD_READY)}"), "{{engine}} / {{cluster}}")],
            width=8, links=[links.dashboard(GATEWAY_UID, "Gateway and failover")]),
        timeseries(
            "Active clusters by engine",
            "Clusters of each engine the gateway routes queries to; a blue-green upgrade switches them.",
            "short", [Query(q.gauge(c.ENGINE_ACTIVE_CLUSTERS, (q.ENGINE,)), "{{engine}}")], width=8),
    ])
    operations = Row("Operations", [
        timeseries(
            "p90 operation duration",
            "90th percentile of the duration of orchestrator operations (start, stop, resize, upgrade, "
            "drain_node, restart_pod, failover), per engine and operation, over operations that ended in "
            "the rate interval.",
            "s", [Query(q.quantile(0.9, c.ENGINE_OPERATION_DURATION, (q.ENGINE, q.OPERATION)),
                        "{{operation}} {{engine}}")], width=12),
        timeseries(
            "Operations by outcome",
            "Orchestrator operations that ended in each rate interval, by operation and outcome.",
            "short", [Query(q.increase(c.ENGINE_OPERATION_DURATION, (q.ENGINE, q.OPERATION, q.OUTCOME), "count"),
                            "{{operation}} {{outcome}} {{engine}}")], width=12, stacked=True),
    ])
    restarts = Row("Restarts and drains", [
        timeseries(
            "Pod restarts by reason",
            "Pods the orchestrator restarted in each rate interval, by reason (killed, crashed, exited, "
            "unhealthy, requested, oom). Repeated restarts of one pod are a crash loop.",
            "short", [Query(q.increase(c.ENGINE_POD_RESTARTS, (q.ENGINE, q.REASON)), "{{reason}} {{engine}}")],
            width=8, stacked=True, links=[links.runbook(alerts.POD_CRASH_LOOPING)]),
        timeseries(
            "Pod restarts by pod",
            "Restarts in each rate interval per pod: the crash-looping pod stands out.",
            "short", [Query(q.increase(c.ENGINE_POD_RESTARTS, (q.ENGINE, q.CLUSTER, q.POD)),
                            "{{engine}} / {{cluster}} / {{pod}}")],
            width=8, links=[links.runbook(alerts.POD_CRASH_LOOPING)]),
        timeseries(
            "Drains by outcome",
            "Graceful pod drains that ended in each rate interval, by cluster and outcome. A failed drain "
            "exceeded its grace period and its remaining queries were canceled.",
            "short", [Query(q.increase(c.ENGINE_POD_DRAINS, (*_EC, q.OUTCOME)),
                            "{{outcome}} {{engine}} / {{cluster}}")], width=8, stacked=True),
    ])
    cost = Row("Cost", [
        timeseries(
            "Consumption rate by engine",
            "Consumption units per hour each engine burns now: its running nodes times the hourly rate of "
            "its node type. Scaling out shows as a step up; a stopped engine costs nothing.",
            "short", [Query(f"{q.rate(c.ENGINE_CONSUMED_UNITS, (q.ENGINE, q.TYPE))} * 3600",
                            "{{engine}} ({{type}} nodes), units/h")], width=12),
        timeseries(
            "Units consumed per interval by engine",
            "Consumption units each engine used in each rate interval, stacked: the area over a time range "
            "is what that range cost.",
            "short", [Query(q.increase(c.ENGINE_CONSUMED_UNITS, (q.ENGINE,)), "{{engine}}")], width=12,
            stacked=True),
    ])
    return dashboard(
        uid=LIFECYCLE_UID, title=TITLE,
        description="Control plane: engine and node states, orchestrator operations, restarts, drains and cost.",
        rows=[states, capacity, operations, restarts, cost], links=links,
        runbooks=[*alerts.ENGINE_STUCK, alerts.POD_CRASH_LOOPING, alerts.ENGINE_NODE_DOWN],
    )
