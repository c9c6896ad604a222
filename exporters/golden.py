"""The four golden signals of a query service, as a library any Python query service can use.

One :class:`QueryServiceMetrics` per service registers the node metrics of the contract (component
``node``) from their :class:`~exporters.contract.Metric` objects. Every bounded label combination is
created up front, so each series exists at 0 from the first scrape (``rate()`` and ``absent()`` work
from the start) and the per-query path only picks a cached child: no ``labels()`` call, no lock on a
label dictionary. Label values that come from clients are folded into the bounded sets (unknown kind →
``other``, unknown error type → ``internal``), so no request can ever create a new series.

Accounting rule: every query that the service admits (given a slot or a place in the queue) ends with
exactly one :meth:`QueryServiceMetrics.observe_query`, so the duration histogram's ``_count`` is the
traffic and its ``status="error"`` share is the error ratio. Requests refused at the door (malformed,
too large, overloaded, draining) never ran: they are counted by :meth:`count_rejected` in the errors
counter only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from exporters.cgroup import CgroupCpuCollector, ThrottleAccount, cpu_cgroup
from exporters.contract import (
    CPU_UTILIZATION,
    MEMORY_LIMIT,
    MEMORY_USED,
    NODE_STATE,
    NODE_STATES,
    OLDEST_RUNNING_QUERY,
    QUERY_CORE_ERROR_TYPES,
    QUERY_DURATION,
    QUERY_ERRORS,
    QUERY_KINDS,
    QUERY_SLOTS,
    QUEUE_CAPACITY,
    QUEUE_DURATION,
    QUEUED_QUERIES,
    RUNNING_QUERIES,
    SCANNED_BYTES,
    SCANNED_ROWS,
    SPILLED_BYTES,
    STATUSES,
)
from exporters.contract import Metric as ContractMetric

OTHER_KIND = "other"
INTERNAL_ERROR = "internal"

_KINDS = frozenset(QUERY_KINDS)
_ERROR_TYPES = frozenset(QUERY_CORE_ERROR_TYPES)


def bounded_kind(kind: str | None) -> str:
    """A client's kind hint folded into the contract's bounded set."""
    return kind if kind in _KINDS else OTHER_KIND


def bounded_error_type(error_type: str | None) -> str:
    """An error type folded into the contract's set: an unknown one is, by definition, our fault."""
    return error_type if error_type in _ERROR_TYPES else INTERNAL_ERROR


def _counter(metric: ContractMetric, registry: CollectorRegistry) -> Counter:
    assert metric.kind == "counter", metric.name
    return Counter(metric.client_name, metric.help, labelnames=metric.labels, registry=registry)


def _gauge(metric: ContractMetric, registry: CollectorRegistry) -> Gauge:
    assert metric.kind == "gauge", metric.name
    return Gauge(metric.client_name, metric.help, labelnames=metric.labels, registry=registry)


def _histogram(metric: ContractMetric, registry: CollectorRegistry) -> Histogram:
    assert metric.kind == "histogram" and metric.buckets, metric.name
    return Histogram(metric.client_name, metric.help, labelnames=metric.labels, buckets=metric.buckets,
                     registry=registry)


class CpuSampler:
    """CPU time of a process per wall-clock second since the previous sample (1.0 = one full core).

    Sampled at scrape time. Scrapes closer together than ``min_window_s`` reuse the last ratio, so
    two scrapers (Prometheus and an on-call ``curl``) do not shrink each other's window to noise.
    """

    def __init__(self, process: psutil.Process, min_window_s: float = 1.0) -> None:
        self._process = process
        self._min_window_s = min_window_s
        self._lock = threading.Lock()
        self._last_wall = time.monotonic()
        self._last_cpu = self._cpu_seconds()
        self._ratio = 0.0

    def _cpu_seconds(self) -> float:
        times = self._process.cpu_times()
        return float(times.user + times.system)

    def __call__(self) -> float:
        with self._lock:
            now = time.monotonic()
            if now - self._last_wall >= self._min_window_s:
                cpu = self._cpu_seconds()
                self._ratio = max(0.0, (cpu - self._last_cpu) / (now - self._last_wall))
                self._last_wall, self._last_cpu = now, cpu
            return self._ratio


def _exemplar(trace_id: str | None) -> dict[str, str] | None:
    return {"trace_id": trace_id} if trace_id else None


class QueryServiceMetrics:
    """The golden signals of one query service (one engine node): latency, traffic, errors, saturation.

    ``registry`` defaults to a fresh private registry, so several services in one process (tests)
    never collide; expose it with :func:`render`. Topology labels (engine, cluster, node, pod) are
    not ours to add: service discovery attaches them at scrape time.
    """

    def __init__(self, registry: CollectorRegistry | None = None, *, process: psutil.Process | None = None,
                 cpu_window_s: float = 1.0, throttling: ThrottleAccount | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry

        duration = _histogram(QUERY_DURATION, r)
        self._duration: dict[tuple[str, str], Histogram] = {
            (kind, status): duration.labels(kind=kind, status=status)
            for kind in QUERY_DURATION.label_values["kind"] for status in STATUSES
        }
        self._queue_duration = _histogram(QUEUE_DURATION, r)
        self._scanned_bytes = _counter(SCANNED_BYTES, r)
        self._scanned_rows = _counter(SCANNED_ROWS, r)
        errors = _counter(QUERY_ERRORS, r)
        self._errors: dict[str, Counter] = {
            error_type: errors.labels(error_type=error_type)
            for error_type in QUERY_ERRORS.label_values["error_type"]
        }
        self._running = _gauge(RUNNING_QUERIES, r)
        self._queued = _gauge(QUEUED_QUERIES, r)
        self._slots = _gauge(QUERY_SLOTS, r)
        self._queue_capacity = _gauge(QUEUE_CAPACITY, r)
        self._memory_limit = _gauge(MEMORY_LIMIT, r)
        self._spilled = _counter(SPILLED_BYTES, r)
        state = _gauge(NODE_STATE, r)
        self._states: dict[str, Gauge] = {s: state.labels(state=s) for s in NODE_STATE.label_values["state"]}
        self.state: str | None = None
        # Read at scrape time from the service's live queries: an age is a function of now, not an event.
        self._oldest_running = _gauge(OLDEST_RUNNING_QUERY, r)

        proc = process or psutil.Process()
        _gauge(CPU_UTILIZATION, r).set_function(CpuSampler(proc, cpu_window_s))
        _gauge(MEMORY_USED, r).set_function(lambda: float(proc.memory_info().rss))
        # Utilisation says how much CPU the node got; throttling says how much more it wanted and its
        # cgroup's quota refused (a slow node that does not look busy).
        if throttling is None and process is not None:
            pid_dir = Path(f"/proc/{process.pid}")
            throttling = ThrottleAccount(lambda: cpu_cgroup(pid_dir))
        r.register(CgroupCpuCollector(throttling))

    # --- latency, traffic, errors ----------------------------------------------------------------------

    def observe_query(self, kind: str | None, status: str, seconds: float, queue_seconds: float,
                      scanned_bytes: int = 0, scanned_rows: int = 0, error_type: str | None = None,
                      trace_id: str | None = None) -> None:
        """One admitted query ended. ``status`` is ``ok`` or ``error``; errors need an ``error_type``.

        ``seconds`` is execution time (queue excluded: 0 for a query that never got a slot).
        ``trace_id`` (32 hex digits) becomes the exemplar linking the histogram bucket, and the error
        counter, to the query's trace.
        """
        exemplar = _exemplar(trace_id)
        if status != "ok":
            status = "error"
            self._errors[bounded_error_type(error_type)].inc(1, exemplar)
        self._duration[(bounded_kind(kind), status)].observe(seconds, exemplar)
        self._queue_duration.observe(queue_seconds)
        if scanned_bytes:
            self._scanned_bytes.inc(scanned_bytes)
        if scanned_rows:
            self._scanned_rows.inc(scanned_rows)

    def count_rejected(self, error_type: str, trace_id: str | None = None) -> None:
        """A request refused before admission (malformed, too large, overloaded, unavailable)."""
        self._errors[bounded_error_type(error_type)].inc(1, _exemplar(trace_id))

    # --- saturation ------------------------------------------------------------------------------------

    def set_capacity(self, slots: int, queue_capacity: int, memory_limit_bytes: int) -> None:
        self._slots.set(slots)
        self._queue_capacity.set(queue_capacity)
        self._memory_limit.set(memory_limit_bytes)

    def set_load(self, running: int, queued: int) -> None:
        """Queries in a slot and queries waiting for one, now."""
        self._running.set(running)
        self._queued.set(queued)

    def watch_oldest_running(self, seconds: Callable[[], float]) -> None:
        """``seconds()``: how long the longest-running query has been executing, 0 when none runs."""
        self._oldest_running.set_function(seconds)

    def add_spilled(self, spilled_bytes: int) -> None:
        if spilled_bytes > 0:
            self._spilled.inc(spilled_bytes)

    def set_state(self, state: str) -> None:
        """The lifecycle state: 1 on its series, 0 on every other state's series."""
        if state not in self._states:
            raise ValueError(f"unknown node state {state!r}; one of {', '.join(NODE_STATES)}")
        for name, child in self._states.items():
            child.set(1.0 if name == state else 0.0)
        self.state = state

    def render(self, accept_header: str | None = None) -> tuple[bytes, str]:
        return render(self.registry, accept_header)


def render(registry: CollectorRegistry, accept_header: str | None = None) -> tuple[bytes, str]:
    """Exposition body and content type, as the scraper asked in its ``Accept`` header.

    OpenMetrics (the only text format that carries exemplars) when ``application/openmetrics-text`` is
    accepted, as Prometheus asks when exemplar storage is on; the classic text format otherwise.
    """
    encoder, content_type = choose_encoder(accept_header or "")
    return encoder(registry), content_type

