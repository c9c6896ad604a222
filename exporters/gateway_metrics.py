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
    EJECTION_REASONS,
    ERROR_TYPES,
    GATEWAY_BREAKER_STATE,
    GATEWAY_EJECTIONS,
    GATEWAY_ERRORS,
    GATEWAY_FAILOVERS,
    GATEWAY_INFLIGHT,
    GATEWAY_PROBE_DURATION,
    GATEWAY_REQUEST_DURATION,
    GATEWAY_RETRIES,
    GATEWAY_UPSTREAM_EJECTED,
    GATEWAY_UPSTREAM_REQUESTS,
    GATEWAY_UPSTREAM_UP,
    QUERY_KINDS,
    STATUSES,
    UNKNOWN_ENGINE,
    Metric,
)


def _counter(m: Metric, registry: CollectorRegistry) -> Counter:
    return Counter(m.client_name, m.help, m.labels, registry=registry)


def _gauge(m: Metric, registry: CollectorRegistry) -> Gauge:
    return Gauge(m.client_name, m.help, m.labels, registry=registry)


def _histogram(m: Metric, registry: CollectorRegistry) -> Histogram:
    return Histogram(m.client_name, m.help, m.labels, buckets=m.buckets or (), registry=registry)


UPSTREAM_OUTCOMES = GATEWAY_UPSTREAM_REQUESTS.label_values["outcome"]
OTHER_KIND = "other"


@dataclass(eq=False)
class UpstreamSeries:
    """The label children of one upstream node: its health-check latency and its ejections."""

    probe: Any
    ejections: dict[str, Any]  # reason -> counter child

    def observe_probe(self, seconds: float) -> None:
        self.probe.observe(seconds)

    def count_ejection(self, reason: str) -> None:
        self.ejections[reason].inc()


@dataclass(eq=False)
class EngineSeries:
    """The label children of one engine."""

    durations: dict[tuple[str, str], Any]  # (kind, status) -> histogram child, every pair from the start
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

    def observe(self, kind: str, ok: bool, seconds: float) -> None:
        """One finished client request; a kind outside the contract's set counts as ``other``."""
        status = "ok" if ok else "error"
        child = self.durations.get((kind, status)) or self.durations[(OTHER_KIND, status)]
        child.observe(seconds)

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
        self.request_duration = _histogram(GATEWAY_REQUEST_DURATION, r)
        self.probe_duration = _histogram(GATEWAY_PROBE_DURATION, r)
        self.ejections = _counter(GATEWAY_EJECTIONS, r)
        self.ejected = _gauge(GATEWAY_UPSTREAM_EJECTED, r)
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
                durations={(kind, status): self.request_duration.labels(name, kind, status)
                           for kind in QUERY_KINDS for status in STATUSES},
                inflight=self.inflight.labels(name),
                retries=self.retries.labels(name),
                failovers=self.failovers.labels(name),
                _errors=self.errors,
                _upstream_requests=self.upstream_requests,
                engine=name,
            )
        return series

    def track_upstream(self, engine: str, cluster: str, node: str, up: Callable[[], float],
                       breaker_state: Callable[[], float], pod: str = "",
                       ejection: Callable[[], str | None] = lambda: None) -> UpstreamSeries:
        """Upstream gauges are read at scrape time, so they are never stale between events. The
        engine's series are created here too, at 0, before its first query (see EngineSeries).

        ``ejection`` says why the node is out of routing now (one of the contract's reasons), or None.
        """
        self.engine(engine).init_cluster(cluster)
        self.upstream_up.labels(engine, cluster, node).set_function(up)
        self.breaker_state.labels(engine, cluster, node).set_function(breaker_state)
        for reason in EJECTION_REASONS:
            self.ejected.labels(engine, cluster, node, pod, reason).set_function(
                lambda reason=reason: 1.0 if ejection() == reason else 0.0)
        return UpstreamSeries(
            probe=self.probe_duration.labels(engine, cluster, node, pod),
            ejections={reason: self.ejections.labels(engine, cluster, node, pod, reason)
                       for reason in EJECTION_REASONS},
        )

    def untrack_upstream(self, engine: str, cluster: str, node: str, pod: str = "") -> None:
        for gauge in (self.upstream_up, self.breaker_state):
            with contextlib.suppress(KeyError):  # never tracked, or removed already
                gauge.remove(engine, cluster, node)
        with contextlib.suppress(KeyError):
            self.probe_duration.remove(engine, cluster, node, pod)
        for reason in EJECTION_REASONS:
            for family in (self.ejections, self.ejected):
                with contextlib.suppress(KeyError):
                    family.remove(engine, cluster, node, pod, reason)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The scrape body and its content type, OpenMetrics when the scraper asks for it."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type
