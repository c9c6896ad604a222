"""The metric contract: every metric name, label, unit and bounded label value, defined once.

Exporters register metrics from these definitions; dashboards, alerts, SLO specs and runbooks build
PromQL from them (``GATEWAY_REQUEST_DURATION.bucket``, ``QUERY_ERRORS.total``), never from string
copies. docs/metrics.md is generated from this module and a test fails when it is stale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["counter", "gauge", "histogram"]
Signal = Literal["latency", "traffic", "errors", "saturation", "state"]
Component = Literal["node", "gateway", "control_plane", "slo_service", "chaos"]

# --- bounded label values -------------------------------------------------------------------------

#: Errors caused by the client's request. They never count against availability SLOs.
USER_ERROR_TYPES: tuple[str, ...] = (
    "invalid_sql",  # a statement the query core refuses, or a malformed request
    "too_large",  # a statement or result over the size limits
    "unknown_engine",  # the gateway knows no engine of the name sent (404)
)
#: Errors caused by the platform. Availability SLOs count these only.
PLATFORM_ERROR_TYPES: tuple[str, ...] = (
    "timeout",  # per-query timeout or gateway deadline exceeded
    "unavailable",  # no healthy node, node draining, connection refused/reset
    "overloaded",  # slots and queue full (503 + Retry-After)
    "oom",  # query core ran out of memory
    "canceled",  # canceled by the platform (drain grace expired, shutdown) or killed by an operator
    "internal",  # anything else that is the platform's fault
)
ERROR_TYPES: tuple[str, ...] = USER_ERROR_TYPES + PLATFORM_ERROR_TYPES
#: Platform errors of a node refusing a query before admission: never in the node's duration count,
#: and retried elsewhere by the gateway (a draining or full node is doing its job).
ADMISSION_ERROR_TYPES: tuple[str, ...] = ("unavailable", "overloaded")
#: Platform errors of queries the query core admitted and then failed.
EXECUTION_ERROR_TYPES: tuple[str, ...] = tuple(t for t in PLATFORM_ERROR_TYPES if t not in ADMISSION_ERROR_TYPES)
#: Errors only the gateway answers: a node is never asked, so its error counter has no series for them.
GATEWAY_ONLY_ERROR_TYPES: tuple[str, ...] = ("unknown_engine",)
QUERY_CORE_ERROR_TYPES: tuple[str, ...] = tuple(t for t in ERROR_TYPES if t not in GATEWAY_ONLY_ERROR_TYPES)

#: The ``engine`` label value of gateway requests that named no known engine (bounded: never the name sent).
UNKNOWN_ENGINE = "unknown"

#: Query kinds. The client may hint one of these; anything else is classified by statement type.
QUERY_KINDS: tuple[str, ...] = ("lookup", "aggregate", "scan", "join", "write", "other")
STATUSES: tuple[str, ...] = ("ok", "error")

NODE_STATES: tuple[str, ...] = ("STARTING", "RUNNING", "DRAINING", "STOPPING", "STOPPED")
ENGINE_STATES: tuple[str, ...] = ("STARTING", "RUNNING", "RESIZING", "DRAINING", "STOPPING", "STOPPED")
OPERATIONS: tuple[str, ...] = ("start", "stop", "resize", "upgrade", "drain_node", "restart_pod", "failover")
OUTCOMES: tuple[str, ...] = ("success", "failure")
#: Why the orchestrator restarted a pod.
RESTART_REASONS: tuple[str, ...] = ("killed", "crashed", "exited", "unhealthy", "requested", "oom")
#: Why the gateway took a node out of routing: connection refused (nothing listens), health checks
#: unanswered (hung, unreachable), or health checks answered far more slowly than by the node's cluster
#: peers (a gray failure: throttled, starved, swapping).
EJECTION_REASONS: tuple[str, ...] = ("refused", "unresponsive", "latency")
#: Circuit breaker positions, as the value of gateway_circuit_breaker_state.
BREAKER_STATES: dict[str, int] = {"closed": 0, "half_open": 1, "open": 2}

#: Topology labels attached by service discovery (file_sd locally, Kubernetes SD in production).
TOPOLOGY_LABELS: tuple[str, ...] = ("engine", "cluster", "node", "pod", "version")

# Latency buckets in seconds: from millisecond lookups to multi-second scans and the 30 s timeout.
QUERY_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)
QUEUE_BUCKETS: tuple[float, ...] = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
OPERATION_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
# A health check answers in a millisecond; its timeout is a quarter second, and a check that timed out
# is observed at its timeout, so the top buckets hold the hung and the starved.
PROBE_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

# Job names in the Prometheus configuration that `enginewatch up` generates.
JOB_NODE = "engine-node"
JOB_GATEWAY = "gateway"
JOB_ORCHESTRATOR = "orchestrator"
JOB_SLO_SERVICE = "slo-service"
# The monitoring stack scraped as itself: its own metrics, not the contract's, feed the meta alerts.
JOB_PROMETHEUS = "prometheus"
JOB_ALERTMANAGER = "alertmanager"
#: The chaos runner's own gauge, served by the process that runs the experiment (file_sd, chaos/scrape.py).
JOB_CHAOS = "chaos"


@dataclass(frozen=True)
class Metric:
    """One metric of the contract.

    ``name`` is the exposition name as Prometheus stores it: counters end in ``_total``,
    histograms are the base name (``_bucket``/``_sum``/``_count`` are derived).
    """

    name: str
    kind: Kind
    unit: str
    help: str
    signal: Signal
    component: Component
    labels: tuple[str, ...] = ()
    label_values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    buckets: tuple[float, ...] | None = None

    @property
    def client_name(self) -> str:
        """The name to give prometheus_client, which appends ``_total`` to counters itself."""
        return self.name.removesuffix("_total") if self.kind == "counter" else self.name

    @property
    def bucket(self) -> str:
        return self._suffixed("_bucket")

    @property
    def count(self) -> str:
        return self._suffixed("_count")

    @property
    def sum(self) -> str:
        return self._suffixed("_sum")

    def _suffixed(self, suffix: str) -> str:
        if self.kind != "histogram":
            raise ValueError(f"{self.name} is a {self.kind}, it has no {suffix} series")
        return self.name + suffix

    def __str__(self) -> str:
        return self.name


def _values(**bounded: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return dict(bounded)


# --- node: the query core ---------------------------------------------------------------------------

QUERY_DURATION = Metric(
    "engine_query_duration_seconds", "histogram", "seconds",
    "Time from admission to the last result row of a query in the query core, queue time excluded.",
    "latency", "node", ("kind", "status"), _values(kind=QUERY_KINDS, status=STATUSES), QUERY_BUCKETS,
)
QUEUE_DURATION = Metric(
    "engine_query_queue_duration_seconds", "histogram", "seconds",
    "Time a query waited in the node's queue for a free query slot.",
    "latency", "node", (), {}, QUEUE_BUCKETS,
)
SCANNED_BYTES = Metric(
    "engine_scanned_bytes_total", "counter", "bytes",
    "Bytes of object storage (Parquet) read by finished queries.", "traffic", "node",
)
SCANNED_ROWS = Metric(
    "engine_scanned_rows_total", "counter", "rows",
    "Rows read from object storage by finished queries.", "traffic", "node",
)
QUERY_ERRORS = Metric(
    "engine_query_errors_total", "counter", "queries",
    "Queries that ended in an error, by error type (user errors apart from platform errors).",
    "errors", "node", ("error_type",), _values(error_type=QUERY_CORE_ERROR_TYPES),
)
RUNNING_QUERIES = Metric(
    "engine_running_queries", "gauge", "queries", "Queries executing in a query slot now.",
    "saturation", "node",
)
QUEUED_QUERIES = Metric(
    "engine_queued_queries", "gauge", "queries", "Queries waiting for a query slot now.",
    "saturation", "node",
)
QUERY_SLOTS = Metric(
    "engine_query_slots", "gauge", "queries", "Query slots of the node (its concurrency limit).",
    "saturation", "node",
)
QUEUE_CAPACITY = Metric(
    "engine_query_queue_capacity", "gauge", "queries",
    "Queries the node's queue holds before it answers 503 overloaded.", "saturation", "node",
)
CPU_UTILIZATION = Metric(
    "engine_cpu_utilization_ratio", "gauge", "ratio",
    "CPU used by the node process, as a share of one core (0 to 1 per core).", "saturation", "node",
)
# CFS bandwidth control of the cgroup the node process is in (a Kubernetes CPU limit): the counters of
# the cgroup's cpu.stat, read at scrape time, as cAdvisor's container_cpu_cfs_* series are.
CPU_PERIODS = Metric(
    "engine_cpu_periods_total", "counter", "periods",
    "CPU quota enforcement periods (CFS) in which the node's cgroup had runnable threads; 0 without a quota.",
    "saturation", "node",
)
CPU_THROTTLED_PERIODS = Metric(
    "engine_cpu_throttled_periods_total", "counter", "periods",
    "CPU quota enforcement periods in which the node's cgroup used up its quota and was throttled.",
    "saturation", "node",
)
CPU_THROTTLED = Metric(
    "engine_cpu_throttled_seconds_total", "counter", "seconds",
    "Time the node's cgroup spent throttled by its CPU quota: runnable, but not allowed to run.",
    "saturation", "node",
)
MEMORY_USED = Metric(
    "engine_memory_used_bytes", "gauge", "bytes",
    "Resident memory of the node process.", "saturation", "node",
)
MEMORY_LIMIT = Metric(
    "engine_memory_limit_bytes", "gauge", "bytes",
    "Memory limit of the query core, set by the node type (S/M/L).", "saturation", "node",
)
SPILLED_BYTES = Metric(
    "engine_spilled_bytes_total", "counter", "bytes",
    "Bytes the query core spilled to local disk because a query exceeded memory.", "saturation", "node",
)
NODE_STATE = Metric(
    "engine_node_state", "gauge", "boolean",
    "Lifecycle state of the node: 1 for the current state, 0 for the others.",
    "state", "node", ("state",), _values(state=NODE_STATES),
)
OLDEST_RUNNING_QUERY = Metric(
    "engine_oldest_running_query_seconds", "gauge", "seconds",
    "How long the longest-running query of the node has been executing in its query slot (0 when none "
    "runs); which query it is, the node's query history says (GET /queries/running).",
    "saturation", "node",
)

# --- gateway: the client's view ---------------------------------------------------------------------

GATEWAY_REQUEST_DURATION = Metric(
    "gateway_request_duration_seconds", "histogram", "seconds",
    "Time from the client's request to the gateway's response, retries included, by query kind (the "
    "client's hint, or the node's classifier applied at the gateway).",
    "latency", "gateway", ("engine", "kind", "status"), _values(kind=QUERY_KINDS, status=STATUSES), QUERY_BUCKETS,
)
GATEWAY_ERRORS = Metric(
    "gateway_errors_total", "counter", "requests",
    "Client requests answered with an error, by engine and error type.",
    "errors", "gateway", ("engine", "error_type"), _values(error_type=ERROR_TYPES),
)
GATEWAY_RETRIES = Metric(
    "gateway_retries_total", "counter", "attempts",
    "Attempts beyond the first one, made by the gateway for a client request.",
    "errors", "gateway", ("engine",),
)
GATEWAY_FAILOVERS = Metric(
    "gateway_failovers_total", "counter", "requests",
    "Client requests served by another node than the first one tried, after that one failed.",
    "errors", "gateway", ("engine",),
)
GATEWAY_INFLIGHT = Metric(
    "gateway_inflight_requests", "gauge", "requests", "Client requests in flight at the gateway.",
    "saturation", "gateway", ("engine",),
)
GATEWAY_UPSTREAM_UP = Metric(
    "gateway_upstream_up", "gauge", "boolean",
    "1 when the gateway considers the node healthy and routable, 0 when it is ejected or unready.",
    "saturation", "gateway", ("engine", "cluster", "node"),
)
GATEWAY_BREAKER_STATE = Metric(
    "gateway_circuit_breaker_state", "gauge", "state",
    "Circuit breaker of a node at the gateway: 0 closed, 1 half-open, 2 open.",
    "errors", "gateway", ("engine", "cluster", "node"),
)
GATEWAY_UPSTREAM_REQUESTS = Metric(
    "gateway_upstream_requests_total", "counter", "attempts",
    "Attempts sent by the gateway to nodes, by outcome (ok, error, refused, timeout).",
    "traffic", "gateway", ("engine", "cluster", "outcome"),
    _values(outcome=("ok", "error", "refused", "timeout")),
)

GATEWAY_PROBE_DURATION = Metric(
    "gateway_upstream_probe_duration_seconds", "histogram", "seconds",
    "Time a node took to answer the gateway's health check (GET /readyz); a check that timed out counts "
    "at its timeout, a refused connection not at all.",
    "latency", "gateway", ("engine", "cluster", "node", "pod"), {}, PROBE_BUCKETS,
)
GATEWAY_EJECTIONS = Metric(
    "gateway_upstream_ejections_total", "counter", "ejections",
    "Nodes the gateway took out of routing, by reason (refused, unresponsive, latency outlier).",
    "errors", "gateway", ("engine", "cluster", "node", "pod", "reason"), _values(reason=EJECTION_REASONS),
)
GATEWAY_UPSTREAM_EJECTED = Metric(
    "gateway_upstream_ejected", "gauge", "boolean",
    "1 while the gateway keeps the node out of routing for this reason, 0 for the other reasons.",
    "state", "gateway", ("engine", "cluster", "node", "pod", "reason"), _values(reason=EJECTION_REASONS),
)

# --- control plane: the orchestrator (kube-state-metrics of engines) ---------------------------------

ENGINE_STATE = Metric(
    "engine_state", "gauge", "boolean",
    "Lifecycle state of an engine: 1 for the current state, 0 for the others.",
    "state", "control_plane", ("engine", "state"), _values(state=ENGINE_STATES),
)
ENGINE_READY_NODES = Metric(
    "engine_ready_nodes", "gauge", "nodes", "Nodes of a cluster that pass their readiness check.",
    "saturation", "control_plane", ("engine", "cluster"),
)
ENGINE_DESIRED_NODES = Metric(
    "engine_desired_nodes", "gauge", "nodes", "Nodes a cluster should have according to its spec.",
    "saturation", "control_plane", ("engine", "cluster"),
)
ENGINE_ACTIVE_CLUSTERS = Metric(
    "engine_active_clusters", "gauge", "clusters",
    "Clusters of an engine that the gateway routes queries to.", "saturation", "control_plane", ("engine",),
)
ENGINE_OPERATION_DURATION = Metric(
    "engine_operation_duration_seconds", "histogram", "seconds",
    "Duration of orchestrator operations (start, resize, upgrade, drain, restart), by outcome.",
    "latency", "control_plane", ("engine", "operation", "outcome"),
    _values(operation=OPERATIONS, outcome=OUTCOMES), OPERATION_BUCKETS,
)
ENGINE_POD_RESTARTS = Metric(
    "engine_pod_restarts_total", "counter", "restarts",
    "Pod restarts made by the orchestrator, by reason.",
    "errors", "control_plane", ("engine", "cluster", "pod", "reason"), _values(reason=RESTART_REASONS),
)
ENGINE_POD_DRAINS = Metric(
    "engine_pod_drains_total", "counter", "drains",
    "Graceful drains of pods, by outcome (success: exit 0 within the grace period).",
    "state", "control_plane", ("engine", "cluster", "outcome"), _values(outcome=OUTCOMES),
)
ENGINE_POD_READY = Metric(
    "engine_pod_ready", "gauge", "boolean", "1 when the pod passes its readiness check.",
    "state", "control_plane", ("engine", "cluster", "pod"),
)
ENGINE_CONSUMED_UNITS = Metric(
    "engine_consumed_units_total", "counter", "units",
    "Consumption units of an engine's nodes: node-seconds of running pods times the per-hour rate of "
    "their node type (what the engine costs).",
    "traffic", "control_plane", ("engine", "type"),
)

# --- SLO service: its own golden signals (the service that reports everyone else's) ----------------

#: HTTP status classes of the SLO service's responses.
STATUS_CLASSES: tuple[str, ...] = ("2xx", "3xx", "4xx", "5xx")
#: Why a Prometheus query of the SLO service failed (foundation.prometheus.PrometheusUnavailable.kind).
DATASOURCE_ERROR_KINDS: tuple[str, ...] = ("connection", "http", "api")

SLO_SERVICE_REQUEST_DURATION = Metric(
    "slo_service_request_duration_seconds", "histogram", "seconds",
    "Time to answer an HTTP request of the SLO service, by route template and status class "
    "(unmatched paths are route \"other\").",
    "latency", "slo_service", ("route", "status_class"), _values(status_class=STATUS_CLASSES), QUERY_BUCKETS,
)
SLO_SERVICE_ERRORS = Metric(
    "slo_service_errors_total", "counter", "requests",
    "HTTP requests of the SLO service answered with a 4xx or 5xx status, by route template and status class.",
    "errors", "slo_service", ("route", "status_class"), _values(status_class=("4xx", "5xx")),
)
SLO_SERVICE_INFLIGHT = Metric(
    "slo_service_inflight_requests", "gauge", "requests", "HTTP requests the SLO service is answering now.",
    "saturation", "slo_service",
)
SLO_SERVICE_DATASOURCE_ERRORS = Metric(
    "slo_service_datasource_errors_total", "counter", "queries",
    "Prometheus queries of the SLO service that failed, by kind (connection, http, api).",
    "errors", "slo_service", ("kind",), _values(kind=DATASOURCE_ERROR_KINDS),
)
SLO_MAINTENANCE_ACTIVE = Metric(
    "slo_maintenance_window_active", "gauge", "windows",
    "1 while a runtime maintenance window of the SLO is open (engine empty: the whole SLO); the SLO rules "
    "exclude the events it covers.",
    "state", "slo_service", ("slo", "engine"),
)

# --- chaos: the experiment runner (enginewatch chaos run, game days) ----------------------------------

CHAOS_FAULT_ACTIVE = Metric(
    "chaos_fault_active", "gauge", "boolean",
    "1 while a fault of a chaos experiment acts on the platform, 0 once it stopped acting; the series "
    "ends at the experiment's rollback. Dashboards annotate their graphs with it.",
    "state", "chaos", ("experiment", "step", "action", "engine", "cluster", "node", "pod"),
)

ALL: tuple[Metric, ...] = tuple(v for v in list(globals().values()) if isinstance(v, Metric))
BY_NAME: dict[str, Metric] = {m.name: m for m in ALL}


def promql_set(values: tuple[str, ...]) -> str:
    """A regex alternation for a label matcher, e.g. ``error_type=~"timeout|unavailable"``."""
    return "|".join(values)


PLATFORM_ERRORS_RE = promql_set(PLATFORM_ERROR_TYPES)
EXECUTION_ERRORS_RE = promql_set(EXECUTION_ERROR_TYPES)
