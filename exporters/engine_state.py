"""The engine-state exporter: the orchestrator's view of engines as metrics, like kube-state-metrics.

State gauges (engine state, desired and ready nodes, active clusters, pod readiness) are computed from
an orchestrator snapshot at scrape time, so they can never drift from what the orchestrator believes.
What cannot be recomputed from a snapshot — operation durations, restarts, drains — are ordinary
stateful prometheus_client metrics. Everything is built from the Metric objects of the contract.

The registry is private to each exporter: several orchestrators in one process (tests) do not collide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporters.contract import (
    ENGINE_ACTIVE_CLUSTERS,
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
    def state(self) -> str: ...
    @property
    def active_clusters(self) -> Sequence[str]: ...
    @property
    def clusters(self) -> Sequence[ClusterView]: ...


SnapshotSource = Callable[[], Sequence[EngineView]]


def _gauge(metric: ContractMetric) -> GaugeMetricFamily:
    assert metric.kind == "gauge", metric.name
    return GaugeMetricFamily(metric.client_name, metric.help, labels=list(metric.labels))


class EngineStateCollector(Collector):
    """Gauges from a fresh snapshot on every scrape."""

    def __init__(self, snapshot: SnapshotSource) -> None:
        self._snapshot = snapshot

    def describe(self) -> Iterator[Metric]:
        # Names only, so the registry can detect collisions without taking a snapshot.
        for metric in (ENGINE_STATE, ENGINE_READY_NODES, ENGINE_DESIRED_NODES, ENGINE_ACTIVE_CLUSTERS,
                       ENGINE_POD_READY):
            yield _gauge(metric)

    def collect(self) -> Iterator[Metric]:
        state, ready, desired = _gauge(ENGINE_STATE), _gauge(ENGINE_READY_NODES), _gauge(ENGINE_DESIRED_NODES)
        active, pod_ready = _gauge(ENGINE_ACTIVE_CLUSTERS), _gauge(ENGINE_POD_READY)
        for engine in self._snapshot():
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


class EngineStateExporter:
    """The exporter of one orchestrator: snapshot gauges plus the counters it feeds as things happen."""

    def __init__(self, snapshot: SnapshotSource) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(EngineStateCollector(snapshot))
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
