"""Engines overview: the four golden signals per engine (the client's view at the gateway) and per
cluster (the query core's view on the nodes). The first dashboard on-call opens."""

from __future__ import annotations

from grafanalib.core import Dashboard

from dashboards import alert_names as alerts
from dashboards import promql as q
from dashboards.frame import dashboard
from dashboards.links import GATEWAY_UID, OVERVIEW_UID, QUERY_CORE_UID, SLOS_UID
from dashboards.panels import Query, Row, timeseries
from dashboards.settings import Settings
from exporters import contract as c

TITLE = "Enginewatch / Engines overview"
QUANTILES = (0.5, 0.9, 0.99)
_PLATFORM = q.Re(c.PLATFORM_ERRORS_RE)
_USER = q.Re(c.promql_set(c.USER_ERROR_TYPES))
_EC = (q.ENGINE, q.CLUSTER)


def _gateway_error_ratio(error_types: q.Re) -> str:
    return q.ratio(q.rate(c.GATEWAY_ERRORS, (q.ENGINE,), match={q.ERROR_TYPE: error_types}),
                   q.rate(c.GATEWAY_REQUEST_DURATION, (q.ENGINE,), "count"))


def build(settings: Settings) -> Dashboard:
    links = settings.links
    to_gateway = links.dashboard(GATEWAY_UID, "Gateway and failover")
    to_core = links.dashboard(QUERY_CORE_UID, "Query core")
    traffic = Row("Traffic", [
        timeseries(
            "Queries per second by engine",
            "Client queries answered by the gateway per second, errors included: the traffic each engine "
            "serves as clients see it.",
            "reqps", [Query(q.rate(c.GATEWAY_REQUEST_DURATION, (q.ENGINE,), "count"), "{{engine}}")],
            links=[to_gateway]),
        timeseries(
            "Queries per second by cluster",
            "Queries the query cores of each cluster executed per second. Retries run on another node, so "
            "the sum over clusters can exceed the gateway's traffic.",
            "reqps", [Query(q.rate(c.QUERY_DURATION, _EC, "count"), "{{engine}} / {{cluster}}")],
            stacked=True, links=[to_core]),
    ])
    errors = Row("Errors", [
        timeseries(
            "Platform error ratio by engine",
            "Share of client queries that failed through the platform's fault (timeout, unavailable, "
            "overloaded, oom, canceled, internal): what availability SLOs count.",
            "percentunit", [Query(_gateway_error_ratio(_PLATFORM), "{{engine}}")],
            no_value="0", links=[links.dashboard(SLOS_UID, "SLOs"), to_gateway]),
        timeseries(
            "User error ratio by engine",
            "Share of client queries rejected for the client's own fault (invalid SQL, too large). A rise "
            "means a misbehaving client, not an unhealthy engine; it does not burn error budget.",
            "percentunit", [Query(_gateway_error_ratio(_USER), "{{engine}}")], no_value="0"),
        timeseries(
            "Platform error ratio by cluster",
            "Share of the queries executed by each cluster's query cores that ended in a platform error; "
            "pinpoints the cluster behind an engine's errors.",
            "percentunit",
            [Query(q.ratio(q.rate(c.QUERY_ERRORS, _EC, match={q.ERROR_TYPE: _PLATFORM}),
                           q.rate(c.QUERY_DURATION, _EC, "count")), "{{engine}} / {{cluster}}")],
            no_value="0", links=[to_core]),
    ])
    latency = Row("Latency", [
        timeseries(
            "Client latency by engine",
            "p50, p90 and p99 of the time clients wait at the gateway, retries included, from the "
            "request-duration histogram summed over all gateway series before the quantile.",
            "s", [Query(q.quantile(p, c.GATEWAY_REQUEST_DURATION, (q.ENGINE,)), f"p{p * 100:g} {{{{engine}}}}")
                  for p in QUANTILES]),
        timeseries(
            "Query core latency by cluster",
            "p50, p90 and p99 of query execution time in each cluster's query cores, queue time excluded.",
            "s", [Query(q.quantile(p, c.QUERY_DURATION, _EC), f"p{p * 100:g} {{{{engine}}}} / {{{{cluster}}}}")
                  for p in QUANTILES], links=[to_core]),
    ])
    saturation = Row("Saturation", [
        timeseries(
            "Query slot utilization by cluster",
            "Running queries over query slots, per cluster. At 100% new queries queue; when the queue is "
            "full they are rejected as overloaded.",
            "percentunit", [Query(q.ratio(q.gauge(c.RUNNING_QUERIES, _EC), q.gauge(c.QUERY_SLOTS, _EC)),
                                  "{{engine}} / {{cluster}}")],
            max_value=1, thresholds=[("green", None), ("orange", 0.8), ("red", 1.0)],
            width=8, links=[links.runbook(alerts.SLOTS_SATURATED)]),
        timeseries(
            "Queued queries by cluster",
            "Queries waiting for a free query slot, per cluster. A queue that keeps growing means the "
            "cluster cannot keep up with its traffic.",
            "short", [Query(q.gauge(c.QUEUED_QUERIES, _EC), "{{engine}} / {{cluster}}")],
            width=8, links=[links.runbook(alerts.QUEUE_GROWING)]),
        timeseries(
            "Memory utilization by cluster (busiest node)",
            "Resident memory over the query core's memory limit, for the node of each cluster closest to "
            "its limit. Near 100% queries spill to disk or fail with oom.",
            "percentunit", [Query(q.sum_by(_EC, f"{q.gauge(c.MEMORY_USED)} / {q.gauge(c.MEMORY_LIMIT)}", "max"),
                                  "{{engine}} / {{cluster}}")],
            max_value=1, thresholds=[("green", None), ("orange", 0.8), ("red", 0.95)],
            width=8, links=[links.runbook(alerts.MEMORY_SATURATION)]),
        timeseries(
            "CPU utilization by cluster",
            "Mean CPU use of the nodes of each cluster, as a share of one core (each node's query core "
            "runs one thread).",
            "percentunit", [Query(q.gauge(c.CPU_UTILIZATION, _EC, "avg"), "{{engine}} / {{cluster}}")],
            width=12),
        timeseries(
            "Gateway in-flight requests by engine",
            "Client requests the gateway holds open now, per engine: concurrency as clients see it.",
            "short", [Query(q.gauge(c.GATEWAY_INFLIGHT, (q.ENGINE,)), "{{engine}}")],
            width=12, links=[to_gateway]),
    ])
    return dashboard(
        uid=OVERVIEW_UID, title=TITLE,
        description="Golden signals (traffic, errors, latency, saturation) per engine and cluster.",
        rows=[traffic, errors, latency, saturation], links=links,
        runbooks=[alerts.ENGINE_NODE_DOWN, alerts.SLOTS_SATURATED, alerts.MEMORY_SATURATION,
                  alerts.NO_HEALTHY_UPSTREAM, alerts.TARGET_ABSENT, *alerts.META],
    )

