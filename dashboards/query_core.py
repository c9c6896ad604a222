"""Query core: inside the engine nodes — latency by query kind, queueing against slots, errors by
type, bytes scanned and spilled, CPU and memory of every node."""

from __future__ import annotations

from grafanalib.core import Dashboard

from dashboards import alert_names as alerts
from dashboards import promql as q
from dashboards.frame import dashboard
from dashboards.links import QUERY_CORE_UID
from dashboards.panels import Query, Row, timeseries
from dashboards.settings import Settings
from exporters import contract as c

TITLE = "Enginewatch / Query core"
_EC = (q.ENGINE, q.CLUSTER)
_NODE = "{{engine}} / {{cluster}} / {{node}}"


def build(settings: Settings) -> Dashboard:
    links = settings.links
    latency = Row("Latency", [
        timeseries(
            "p99 query latency by kind",
            "99th percentile of execution time per query kind (lookup, aggregate, scan, join, write), "
            "queue time excluded. Kinds differ by orders of magnitude, so compare a kind with itself.",
            "s", [Query(q.quantile(0.99, c.QUERY_DURATION, (q.KIND,)), "{{kind}}")], width=8),
        timeseries(
            "p50 query latency by kind",
            "Median execution time per query kind: the typical query, where the p99 shows the tail.",
            "s", [Query(q.quantile(0.5, c.QUERY_DURATION, (q.KIND,)), "{{kind}}")], width=8),
        timeseries(
            "Mean query latency by kind",
            "Mean execution time per query kind, from the histogram's sum and count: moves with every "
            "slow query, where a quantile moves only when enough of them are slow.",
            "s", [Query(q.mean(c.QUERY_DURATION, (q.KIND,)), "{{kind}}")], width=8),
        timeseries(
            "Queue time by cluster",
            "p50 and p99 of the time queries waited for a free query slot, per cluster. Above zero means "
            "the cluster's slots were all busy when queries arrived.",
            "s", [Query(q.quantile(p, c.QUEUE_DURATION, _EC), f"p{p * 100:g} {{{{engine}}}} / {{{{cluster}}}}")
                  for p in (0.5, 0.99)],
            width=24, links=[links.runbook(alerts.QUEUE_GROWING)]),
    ])
    concurrency = Row("Concurrency", [
        timeseries(
            "Running and queued queries against slots",
            "Queries running and waiting across the selected clusters, against their query slots and "
            "queue capacity. Running at slots and queued at capacity means new queries are rejected.",
            "short", [
                Query(q.gauge(c.RUNNING_QUERIES, ()), "running"),
                Query(q.gauge(c.QUEUED_QUERIES, ()), "queued"),
                Query(q.gauge(c.QUERY_SLOTS, ()), "slots"),
                Query(q.gauge(c.QUEUE_CAPACITY, ()), "queue capacity"),
            ], width=8, links=[links.runbook(alerts.SLOTS_SATURATED)]),
        timeseries(
            "Slot utilization by node",
            "Running queries over query slots on each node: finds the node that saturates first when "
            "routing is uneven.",
            "percentunit", [Query(f"{q.gauge(c.RUNNING_QUERIES)} / {q.gauge(c.QUERY_SLOTS)}", _NODE)],
            width=8, max_value=1, thresholds=[("green", None), ("orange", 0.8), ("red", 1.0)]),
        timeseries(
            "Oldest running query by node",
            "How long the longest-running query of each node has been executing (0: none runs). Which "
            "query it is: `enginewatch queries --engine ENGINE --running`; to cancel it: "
            "`enginewatch queries kill ID`.",
            "s", [Query(q.gauge(c.OLDEST_RUNNING_QUERY), _NODE)], width=8,
            links=[links.runbook(alerts.QUERY_RUNNING_TOO_LONG)]),
    ])
    errors = Row("Errors", [
        timeseries(
            "Query errors by type",
            "Queries per second that ended in an error in the query core, by error type. invalid_sql and "
            "too_large are the client's fault; the others are the platform's.",
            "reqps", [Query(q.rate(c.QUERY_ERRORS, (q.ERROR_TYPE,)), "{{error_type}}")],
            stacked=True, no_value="0"),
        timeseries(
            "Queries by status and kind",
            "Queries per second that finished, by outcome (ok or error) and kind.",
            "reqps", [Query(q.rate(c.QUERY_DURATION, (q.STATUS, q.KIND), "count"), "{{status}} {{kind}}")],
            stacked=True),
    ])
    storage = Row("Storage", [
        timeseries(
            "Scanned bytes by cluster",
            "Bytes per second the query cores read from object storage (Parquet), per cluster: the work "
            "the queries ask for, independent of how long they take.",
            "Bps", [Query(q.rate(c.SCANNED_BYTES, _EC), "{{engine}} / {{cluster}}")], width=8),
        timeseries(
            "Scanned rows by cluster",
            "Rows per second the query cores read from object storage, per cluster.",
            "cps", [Query(q.rate(c.SCANNED_ROWS, _EC), "{{engine}} / {{cluster}}")], width=8),
        timeseries(
            "Spilled bytes by node",
            "Bytes per second spilled to local disk because a query needed more than the node's memory "
            "limit. Spilling is slow; steady spilling asks for a larger node type.",
            "Bps", [Query(q.rate(c.SPILLED_BYTES, (q.ENGINE, q.CLUSTER, q.NODE)), _NODE)],
            width=8, no_value="0", links=[links.runbook(alerts.MEMORY_SATURATION)]),
    ])
    resources = Row("Resources per node", [
        timeseries(
            "CPU utilization by node",
            "CPU used by each node's process as a share of one core; the query core runs one thread, so "
            "a node at 100% is CPU-bound.",
            "percentunit", [Query(q.gauge(c.CPU_UTILIZATION), _NODE)]),
        timeseries(
            "Memory used and limit by node",
            "Resident memory of each node's process against the memory limit of its query core (set by "
            "the node type S, M or L).",
            "bytes", [Query(q.gauge(c.MEMORY_USED), f"used {_NODE}"),
                      Query(q.gauge(c.MEMORY_LIMIT), f"limit {_NODE}")],
            links=[links.runbook(alerts.MEMORY_SATURATION)]),
    ])
    return dashboard(
        uid=QUERY_CORE_UID, title=TITLE,
        description="Inside the engine nodes: latency by query kind, queueing, errors, I/O and resources.",
        rows=[latency, concurrency, errors, storage, resources], links=links,
        runbooks=[alerts.SLOTS_SATURATED, alerts.QUEUE_GROWING, alerts.MEMORY_SATURATION,
                  alerts.ENGINE_NODE_DOWN, alerts.QUERY_RUNNING_TOO_LONG],
    )

