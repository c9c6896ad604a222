"""The gateway's golden signals, registered from the metric contract.

Names, help, labels and buckets all come from the ``Metric`` objects of ``exporters.contract``.
Label children are looked up once per engine (and per upstream) and cached: ``.labels()`` costs a
lock, a tuple and a dict lookup, which the gateway's hot path does not need to pay per request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.exposition import choose_encoder

from exporters.contract import (
    ERROR_TYPES,
    GATEWAY_BREAKER_STATE,
    GATEWAY_ERRORS,
    GATEWAY_FAILOVERS,
    GATEWAY_INFLIGHT,
    GATEWAY_REQUEST_DURATION,
    GATEWAY_RETRIES,
    GATEWAY_UPSTREAM_REQUESTS,
    GATEWAY_UPSTREAM_UP,
    UNKNOWN_ENGINE,
    Metric,
)


def _counter(m: Metric, registry: CollectorRegistry) -> Counter:
    return Counter(m.client_name, m.help, m.labels, registry=registry)


def _gauge(m: Metric, registry: CollectorRegistry) -> Gauge:
    return Gauge(m.client_name, m.help, m.labels, registry=registry)


UPSTREAM_OUTCOMES = GATEWAY_UPSTREAM_REQUESTS.label_values["outcome"]


@dataclass(eq=False)
class EngineSeries:
    """The label children of one engine."""

    ok: Any
    error: Any
    inflight: Any
    retries: Any
    failovers: Any
    _errors: Counter
    _upstream_requests: Counter
    engine: str
    _error_children: dict[str, Any] = field(default_factory=dict)
    _attempt_children: dict[tuple[str, str], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Every bounded error type exists from the start, at 0: a counter that first appears at 1
        # has no increase() in Prometheus, and the first error of each type would go unseen.
        for error_type in ERROR_TYPES:
            self._error_children[error_type] = self._errors.labels(self.engine, error_type)

    def init_cluster(self, cluster: str) -> None:
        """Attempt counters of a cluster, at 0 for every outcome (see ``__post_init__``)."""
        for outcome in UPSTREAM_OUTCOMES:
            if (cluster, outcome) not in self._attempt_children:
                self._attempt_children[(cluster, outcome)] = self._upstream_requests.labels(
                    self.engine, cluster, outcome)

    def count_error(self, error_type: str) -> None:
        child = self._error_children.get(error_type)
        if child is None:
            bounded = error_type if error_type in ERROR_TYPES else "internal"
            child = self._error_children[error_type] = self._errors.labels(self.engine, bounded)
        child.inc()

    def count_attempt(self, cluster: str, outcome: str) -> None:
        child = self._attempt_children.get((cluster, outcome))
        if child is None:
            child = self._attempt_children[(cluster, outcome)] = self._upstream_requests.labels(
                self.engine, cluster, outcome)
        child.inc()


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None, process: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        d = GATEWAY_REQUEST_DURATION
        self.request_duration = Histogram(d.client_name, d.help, d.labels, buckets=d.buckets or (),
                                          registry=r)
        self.errors = _counter(GATEWAY_ERRORS, r)
        self.retries = _counter(GATEWAY_RETRIES, r)
        self.failovers = _counter(GATEWAY_FAILOVERS, r)
        self.inflight = _gauge(GATEWAY_INFLIGHT, r)
        self.upstream_up = _gauge(GATEWAY_UPSTREAM_UP, r)
        self.breaker_state = _gauge(GATEWAY_BREAKER_STATE, r)
        self.upstream_requests = _counter(GATEWAY_UPSTREAM_REQUESTS, r)
        if process:
            ProcessCollector(registry=r)  # the gateway's own CPU and memory: its saturation
        self._engines: dict[str, EngineSeries] = {}
        self.engine(UNKNOWN_ENGINE)  # requests naming no known engine: series at 0 from the start

    def engine(self, name: str) -> EngineSeries:
        series = self._engines.get(name)
        if series is None:
            series = self._engines[name] = EngineSeries(
                ok=self.request_duration.labels(name, "ok"),
                error=self.request_duration.labels(name, "error"),
                inflight=self.inflight.labels(name),
                retries=self.retries.labels(name),
                failovers=self.failovers.labels(name),
                _errors=self.errors,
                _upstream_requests=self.upstream_requests,
                engine=name,
            )
        return series

    def track_upstream(self, engine: str, cluster: str, node: str, up: Callable[[], float],
                       breaker_state: Callable[[], float]) -> None:
        """Upstream gauges are read at scrape time, so they are never stale between events. The
        engine's series are created here too, at 0, before its first query (see EngineSeries)."""
        self.engine(engine).init_cluster(cluster)
        self.upstream_up.labels(engine, cluster, node).set_function(up)
        self.breaker_state.labels(engine, cluster, node).set_function(breaker_state)

    def untrack_upstream(self, engine: str, cluster: str, node: str) -> None:
        for gauge in (self.upstream_up, self.breaker_state):
            with contextlib.suppress(KeyError):  # never tracked, or removed already
                gauge.remove(engine, cluster, node)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The scrape body and its content type, OpenMetrics when the scraper asks for it."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type
