"""Gateway and failover: which nodes the gateway routes to, how often it retries and fails over, and
what its circuit breakers think of each node."""

from __future__ import annotations

from grafanalib.core import Dashboard

from dashboards import alert_names as alerts
from dashboards import promql as q
from dashboards.frame import dashboard
from dashboards.links import GATEWAY_UID, LIFECYCLE_UID
from dashboards.panels import Query, Row, state_timeline, timeseries
from dashboards.settings import Settings
from exporters import contract as c

TITLE = "Enginewatch / Gateway and failover"
_EC = (q.ENGINE, q.CLUSTER)
_UPSTREAM = "{{engine}} / {{cluster}} / {{node}}"
# A colour per breaker position; a KeyError here means the contract gained a position to colour.
_BREAKER_COLORS = {"closed": "green", "half_open": "orange", "open": "red"}
BREAKER_MAPPINGS = {value: (state, _BREAKER_COLORS[state]) for state, value in c.BREAKER_STATES.items()}
UPSTREAM_MAPPINGS = {0: ("ejected", "red"), 1: ("healthy", "green")}


def build(settings: Settings) -> Dashboard:
    links = settings.links
    to_lifecycle = links.dashboard(LIFECYCLE_UID, "Engine lifecycle")
    upstreams = Row("Upstreams", [
        timeseries(
            "Healthy upstreams by cluster",
            "Nodes of each cluster the gateway considers healthy and routes to, against the nodes it "
            "knows. Zero healthy in every active cluster of an engine means its queries fail.",
            "short", [Query(q.gauge(c.GATEWAY_UPSTREAM_UP, _EC), "healthy {{engine}} / {{cluster}}"),
                      Query(q.gauge(c.GATEWAY_UPSTREAM_UP, _EC, "count"), "known {{engine}} / {{cluster}}")],
            links=[links.runbook(alerts.NO_HEALTHY_UPSTREAM), to_lifecycle]),
        timeseries(
            "Attempts to nodes by outcome",
            "Attempts per second the gateway sent to each cluster's nodes, by outcome (ok, error, refused, "
            "timeout). Refused and timeout attempts are retried elsewhere when the query allows it.",
            "reqps", [Query(q.rate(c.GATEWAY_UPSTREAM_REQUESTS, (*_EC, q.OUTCOME)),
                            "{{outcome}} {{engine}} / {{cluster}}")], stacked=True),
        state_timeline(
            "Upstream health by node",
            "Whether the gateway routes to each node: healthy, or ejected by a failed health check or "
            "a refused connection. Drains and crashes show as ejected bands.",
            [Query(q.gauge(c.GATEWAY_UPSTREAM_UP), _UPSTREAM)], UPSTREAM_MAPPINGS,
            links=[links.runbook(alerts.ENGINE_NODE_DOWN)]),
        state_timeline(
            "Circuit breaker state by node",
            "Each node's circuit breaker at the gateway: closed (routing), open (tripped by consecutive "
            "failures, no traffic) or half-open (trying one request).",
            [Query(q.gauge(c.GATEWAY_BREAKER_STATE), _UPSTREAM)], BREAKER_MAPPINGS),
    ])
    retries = Row("Retries and failovers", [
        timeseries(
            "Retries by engine",
            "Attempts per second beyond the first one of a client request: the gateway hiding node "
            "failures from clients, at the cost of latency.",
            "reqps", [Query(q.rate(c.GATEWAY_RETRIES, (q.ENGINE,)), "{{engine}}")], width=8, no_value="0"),
        timeseries(
            "Failovers by engine",
            "Client requests per second served by another node than the first one tried. A burst is a "
            "failover storm: a node or cluster is failing under traffic.",
            "reqps", [Query(q.rate(c.GATEWAY_FAILOVERS, (q.ENGINE,)), "{{engine}}")], width=8, no_value="0",
            links=[links.runbook(alerts.FAILOVER_STORM)]),
        timeseries(
            "Retry ratio by engine",
            "Retries per client request. A few percent is routine churn; a sustained rise means nodes are "
            "failing faster than health checks eject them.",
            "percentunit", [Query(q.ratio(q.rate(c.GATEWAY_RETRIES, (q.ENGINE,)),
                                          q.rate(c.GATEWAY_REQUEST_DURATION, (q.ENGINE,), "count")),
                                  "{{engine}}")], width=8, no_value="0"),
        timeseries(
            "Gateway errors by type",
            "Client requests per second the gateway answered with an error, by engine and error type, "
            "after its retries: what clients actually saw.",
            "reqps", [Query(q.rate(c.GATEWAY_ERRORS, (q.ENGINE, q.ERROR_TYPE)), "{{error_type}} {{engine}}")],
            width=24, stacked=True, no_value="0"),
    ])
    gray = Row("Gray failures: slow nodes", [
        timeseries(
            "Health-check latency by node",
            "Mean time each node took to answer the gateway's health checks (a check that timed out counts "
            "at its timeout). Peers share a machine, so they move together; one node far above its "
            "cluster's fastest is a latency outlier, and the gateway ejects it.",
            "s", [Query(q.mean(c.GATEWAY_PROBE_DURATION, (q.ENGINE, q.CLUSTER, q.POD)), "{{pod}}")], width=8,
            links=[links.runbook(alerts.NODE_LATENCY_OUTLIER)]),
        timeseries(
            "Ejections by reason",
            "Nodes the gateway took out of routing per rate interval, by reason: refused (nothing listens), "
            "unresponsive (health checks time out), latency (an outlier among its cluster's nodes).",
            "short", [Query(q.increase(c.GATEWAY_EJECTIONS, (q.POD, q.REASON)), "{{reason}} {{pod}}")], width=8,
            stacked=True, no_value="0"),
        timeseries(
            "CPU throttling by node",
            "Seconds per second each node's cgroup spent throttled by its CPU quota (a CPU limit): the node "
            "wanted the CPU and was not allowed it, so its queries and health checks wait.",
            "s", [Query(q.rate(c.CPU_THROTTLED, (q.ENGINE, q.CLUSTER, q.POD)), "{{pod}}")], width=8,
            no_value="0", links=[links.runbook(alerts.NODE_LATENCY_OUTLIER)]),
    ])
    load = Row("Load", [
        timeseries(
            "In-flight requests by engine",
            "Client requests open at the gateway now, per engine.",
            "short", [Query(q.gauge(c.GATEWAY_INFLIGHT, (q.ENGINE,)), "{{engine}}")]),
        timeseries(
            "p99 client latency by status",
            "99th percentile of the time clients waited, per engine, split by outcome: failed requests "
            "that wait out the deadline show here first.",
            "s", [Query(q.quantile(0.99, c.GATEWAY_REQUEST_DURATION, (q.ENGINE, q.STATUS)),
                        "{{status}} {{engine}}")]),
        timeseries(
            "p99 client latency by query kind",
            "99th percentile of the time clients waited for a successful query, per engine and kind: "
            "millisecond lookups and multi-second scans have latency SLOs of their own.",
            "s", [Query(q.quantile(0.99, c.GATEWAY_REQUEST_DURATION, (q.ENGINE, q.KIND), match={q.STATUS: "ok"}),
                        "{{kind}} {{engine}}")], width=24),
    ])
    return dashboard(
        uid=GATEWAY_UID, title=TITLE,
        description="Routing, upstream health, circuit breakers, retries and failovers at the gateway.",
        rows=[upstreams, retries, gray, load], links=links,
        runbooks=[alerts.NO_HEALTHY_UPSTREAM, alerts.FAILOVER_STORM, alerts.ENGINE_NODE_DOWN,
                  alerts.NODE_LATENCY_OUTLIER],
    )
