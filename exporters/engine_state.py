"""The engine-state exporter: the orchestrator's view of engines as metrics, like kube-state-metrics.

State gauges (engine state, desired and ready nodes, active clusters, pod readiness) are computed from
an orchestrator snapshot at scrape time, so they can never drift from what the orchestrator believes.
What cannot be recomputed from a snapshot — operation durations, restarts, drains — are ordinary
stateful prometheus_client metrics. Everything is built from the Metric objects of the contract.

Consumption (``engine_consumed_units_total``) is both: the node-seconds of processes that have ended,
added as the orchestrator sees them end, plus those of the live pods of the snapshot, times the per-hour
rate of the node type. A cost meter must never run backwards, so each series is kept monotonic.

The registry is private to each exporter: several orchestrators in one process (tests) do not collide.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporters.contract import (
    ENGINE_ACTIVE_CLUSTERS,
    ENGINE_CONSUMED_UNITS,
    ENGINE_DESIRED_NODES,
    ENGINE_OPERATION_DURATION,
    ENGINE_POD_DRAINS,
    ENGINE_POD_READY,
    ENGINE_POD_RESTARTS,
    ENGINE_READY_NODES,
    ENGINE_STATE,
    ENGINE_STATES,
    OPERATIONS,
    OUTCOMES,
    RESTART_REASONS,
)
from exporters.contract import Metric as ContractMetric


# What the collector reads of a snapshot, as protocols: the exporter serves any orchestrator (the local
# one, or a Kubernetes state source) without importing it; the platform sits above this library.
class PodView(Protocol):
    @property
    def pod(self) -> str: ...
    @property
    def ready(self) -> bool: ...
    @property
    def pid(self) -> int | None: ...  # None: no live process
    @property
    def started_at(self) -> float | None: ...  # wall clock of the current process


class ClusterView(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def ready_nodes(self) -> int: ...
    @property
    def desired_nodes(self) -> int: ...
    @property
    def pods(self) -> Sequence[PodView]: ...


class EngineView(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...  # node type: the rate of its consumption
    @property
    def state(self) -> str: ...
    @property
    def active_clusters(self) -> Sequence[str]: ...
    @property
    def clusters(self) -> Sequence[ClusterView]: ...


SnapshotSource = Callable[[], Sequence[EngineView]]


def _gauge(metric: ContractMetric) -> GaugeMetricFamily:
    assert metric.kind == "gauge", metric.name
    return GaugeMetricFamily(metric.client_name, metric.help, labels=list(metric.labels))


def _counter(metric: ContractMetric) -> CounterMetricFamily:
    assert metric.kind == "counter", metric.name
    return CounterMetricFamily(metric.client_name, metric.help, labels=list(metric.labels))


class UsageMeter:
    """Consumption units per (engine, node type): ended node-seconds plus live ones, times the rate."""

    def __init__(self, units_per_second: Mapping[str, float]) -> None:
        self._rates = dict(units_per_second)
        self._lock = threading.Lock()
        self._ended: defaultdict[tuple[str, str], float] = defaultdict(float)
        self._last: dict[tuple[str, str], float] = {}

    def rate(self, node_type: str) -> float:
        try:
            return self._rates[node_type]
        except KeyError:
            raise ValueError(f"no consumption rate for node type {node_type!r}; known: {sorted(self._rates)}") from None

    def add_ended(self, engine: str, node_type: str, seconds: float) -> None:
        """A pod's process ended after ``seconds``."""
        with self._lock:
            self._ended[(engine, node_type)] += max(0.0, seconds) * self.rate(node_type)

    def values(self, engines: Sequence[EngineView], now: float | None = None) -> dict[tuple[str, str], float]:
        now = time.time() if now is None else now
        with self._lock:
            for engine in engines:
                key = (engine.name, engine.type)
                rate = self.rate(engine.type)
                live = sum(max(0.0, now - p.started_at) for c in engine.clusters for p in c.pods
                           if p.pid is not None and p.started_at)
                # Live seconds are wall-clock, ended ones monotonic: at the hand-over of a pod from one
                # to the other they can differ by microseconds, which must not read as a counter reset.
                self._last[key] = max(self._last.get(key, 0.0), self._ended[key] + live * rate)
            return dict(self._last)


class EngineStateCollector(Collector):
    """Gauges from a fresh snapshot on every scrape."""

    def __init__(self, snapshot: SnapshotSource, usage: UsageMeter | None = None) -> None:
        self._snapshot = snapshot
        self._usage = usage

    def describe(self) -> Iterator[Metric]:
        # Names only, so the registry can detect collisions without taking a snapshot.
        for metric in (ENGINE_STATE, ENGINE_READY_NODES, ENGINE_DESIRED_NODES, ENGINE_ACTIVE_CLUSTERS,
                       ENGINE_POD_READY):
            yield _gauge(metric)
        if self._usage is not None:
            yield _counter(ENGINE_CONSUMED_UNITS)

    def collect(self) -> Iterator[Metric]:
        state, ready, desired = _gauge(ENGINE_STATE), _gauge(ENGINE_READY_NODES), _gauge(ENGINE_DESIRED_NODES)
        active, pod_ready = _gauge(ENGINE_ACTIVE_CLUSTERS), _gauge(ENGINE_POD_READY)
        engines = self._snapshot()
        for engine in engines:
            # Every state present, 1 for the current one: `engine_state{state="RUNNING"} == 0` alerts work
            # without absent() tricks.
            for s in ENGINE_STATES:
                state.add_metric([engine.name, s], 1.0 if engine.state == s else 0.0)
            active.add_metric([engine.name], float(len(engine.active_clusters)))
            for cluster in engine.clusters:
                ready.add_metric([engine.name, cluster.name], float(cluster.ready_nodes))
                desired.add_metric([engine.name, cluster.name], float(cluster.desired_nodes))
                for pod in cluster.pods:
                    pod_ready.add_metric([engine.name, cluster.name, pod.pod], 1.0 if pod.ready else 0.0)
        yield from (state, ready, desired, active, pod_ready)
        if self._usage is not None:
            units = _counter(ENGINE_CONSUMED_UNITS)
            for (engine_name, node_type), value in sorted(self._usage.values(engines).items()):
                units.add_metric([engine_name, node_type], value)
            yield units


class EngineStateExporter:
    """The exporter of one orchestrator: snapshot gauges plus the counters it feeds as things happen."""

    def __init__(self, snapshot: SnapshotSource, units_per_second: Mapping[str, float] | None = None) -> None:
        """``units_per_second``: the consumption rate of each node type; None exports no consumption."""
        self.registry = CollectorRegistry(auto_describe=True)
        self.usage = UsageMeter(units_per_second) if units_per_second is not None else None
        self.registry.register(EngineStateCollector(snapshot, self.usage))
        m = ENGINE_OPERATION_DURATION
        self._operations = Histogram(m.client_name, m.help, list(m.labels), buckets=m.buckets or (),
                                     registry=self.registry)
        m = ENGINE_POD_RESTARTS
        self._restarts = Counter(m.client_name, m.help, list(m.labels), registry=self.registry)
        m = ENGINE_POD_DRAINS
        self._drains = Counter(m.client_name, m.help, list(m.labels), registry=self.registry)

    # Series are created at 0 as soon as the thing they count exists: a first restart must be an
    # increase from 0, which `increase()` sees, not the appearance of a series, which it does not.

    def add_engine(self, engine: str) -> None:
        for operation in OPERATIONS:
            for outcome in OUTCOMES:
                self._operations.labels(engine, operation, outcome)

    def add_cluster(self, engine: str, cluster: str) -> None:
        for outcome in OUTCOMES:
            self._drains.labels(engine, cluster, outcome)

    def add_pod(self, engine: str, cluster: str, pod: str) -> None:
        for reason in RESTART_REASONS:
            self._restarts.labels(engine, cluster, pod, reason)

    def observe_operation(self, engine: str, operation: str, outcome: str, seconds: float) -> None:
        _check(operation, OPERATIONS, "operation")
        _check(outcome, OUTCOMES, "outcome")
        self._operations.labels(engine, operation, outcome).observe(seconds)

    def count_restart(self, engine: str, cluster: str, pod: str, reason: str) -> None:
        _check(reason, RESTART_REASONS, "restart reason")
        self._restarts.labels(engine, cluster, pod, reason).inc()

    def add_node_seconds(self, engine: str, node_type: str, seconds: float) -> None:
        """A pod's process ran ``seconds`` and ended: its consumption, kept once the pod is gone."""
        if self.usage is not None:
            self.usage.add_ended(engine, node_type, seconds)

    def count_drain(self, engine: str, cluster: str, outcome: str) -> None:
        _check(outcome, OUTCOMES, "outcome")
        self._drains.labels(engine, cluster, outcome).inc()

    def exposition(self) -> bytes:
        """The Prometheus text format of everything above."""
        return generate_latest(self.registry)


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    # Label values are bounded by the contract; an unknown one is a bug, not a new series.
    if value not in allowed:
        raise ValueError(f"{what} {value!r} is not one of {allowed}")
