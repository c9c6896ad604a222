"""``chaos_fault_active``: 1 while a fault of an experiment acts on the platform, for the dashboards'
annotations and for anyone who lines a graph up with a fault.

The value is computed at each scrape from the runner's own ``Fault`` objects, which the actions update
as the fault happens (``ts`` once it is injected, ``lifted_ts`` once it stops acting): the gauge has no
state of its own that could disagree with the journal.

- From the moment the action hits the platform (``Fault.ts`` set) the fault counts as active, so that
  a drain or an upgrade is annotated while it runs, not once it is over. A fault found not to be
  injected leaves no series behind.
- A lasting fault (a step with ``duration_s``: pause, sustained kill, gray faults) is active until it
  is lifted; an instant one (a kill, a SIGTERM, a gateway restart) for ``hold_s``, about two scrapes,
  so that Prometheus sees it at all.
- The rollback ends every fault of the run: the series read 0 for ``hold_s`` (one explicit 0 for
  Prometheus to store), then go, and Prometheus marks them stale.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from chaos.backend import PodInfo
from chaos.fault import Fault
from exporters.contract import CHAOS_FAULT_ACTIVE

#: At the local profile's 1 s scrape; the exporter sets two scrape intervals of the Prometheus it serves.
DEFAULT_HOLD_S = 2.0


@dataclass
class _Tracked:
    run: int
    experiment: str
    fault: Fault
    lasting: bool
    settled_at: float | None = None  # when the runner knew whether it was injected
    ended_at: float | None = None  # the rollback


class FaultGauge(Collector):
    """The faults of the runs in this process, as ``chaos_fault_active`` series."""

    def __init__(self, hold_s: float = DEFAULT_HOLD_S, clock: Callable[[], float] = time.time) -> None:
        self.hold_s = hold_s
        self._clock = clock
        self._lock = threading.Lock()
        self._tracked: list[_Tracked] = []
        self._where: dict[str, tuple[str, str]] = {}  # pod -> (cluster, node)
        self._runs = 0

    def run(self, experiment: str, pods: Iterable[PodInfo] = ()) -> RunFaults:
        """A handle for one run of ``experiment``; ``pods`` give the cluster and node of the pods it hits."""
        self.topology(pods)
        with self._lock:
            self._runs += 1
            return RunFaults(self, self._runs, experiment)

    def topology(self, pods: Iterable[PodInfo]) -> None:
        with self._lock:
            self._where.update({p.pod: (p.cluster, p.node) for p in pods})

    def _track(self, entry: _Tracked) -> None:
        with self._lock:
            self._prune(self._clock())
            self._tracked.append(entry)

    def _settle(self, run: int, fault: Fault) -> None:
        with self._lock:
            for t in self._tracked:
                if t.run == run and t.fault is fault:
                    t.settled_at = self._clock()

    def _end(self, run: int) -> None:
        now = self._clock()
        with self._lock:
            for t in self._tracked:
                if t.run == run and t.ended_at is None:
                    t.ended_at = now

    def _prune(self, now: float) -> None:
        self._tracked = [t for t in self._tracked if t.ended_at is None or now < t.ended_at + self.hold_s]

    def _value(self, t: _Tracked, now: float) -> float | None:
        f = t.fault
        if not f.ts or (t.settled_at is not None and not f.injected):
            return None  # not started yet, or it never happened
        if t.ended_at is not None:
            return 0.0
        if t.settled_at is None or (t.lasting and f.lifted_ts is None):
            return 1.0
        return 1.0 if now < max(f.end_ts, t.settled_at + self.hold_s) else 0.0

    def series(self) -> list[tuple[dict[str, str], float]]:
        """(labels, value) of every series a scrape would return now."""
        now = self._clock()
        out: dict[tuple[str, ...], float] = {}
        with self._lock:
            self._prune(now)
            for t in self._tracked:
                value = self._value(t, now)
                if value is None:
                    continue
                for labels in self._label_sets(t):
                    key = tuple(labels[name] for name in CHAOS_FAULT_ACTIVE.labels)
                    # One step repeated hits the same labels: the active repetition wins.
                    out[key] = max(value, out.get(key, 0.0))
        return [(dict(zip(CHAOS_FAULT_ACTIVE.labels, key, strict=True)), v) for key, v in out.items()]

    def _label_sets(self, t: _Tracked) -> Iterator[dict[str, str]]:
        f = t.fault
        base = {"experiment": t.experiment, "step": str(f.step), "action": f.action, "engine": f.engine}
        if not f.pods:  # a gateway restart; a kill_cluster names its clusters
            cluster = f.clusters[0] if len(f.clusters) == 1 else ""
            yield {**base, "cluster": cluster, "node": "", "pod": ""}
            return
        for pod in f.pods:
            cluster, node = self._where.get(pod, ("", ""))
            yield {**base, "cluster": cluster, "node": node, "pod": pod}

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(CHAOS_FAULT_ACTIVE.name, CHAOS_FAULT_ACTIVE.help,
                                labels=list(CHAOS_FAULT_ACTIVE.labels))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(CHAOS_FAULT_ACTIVE.name, CHAOS_FAULT_ACTIVE.help,
                                   labels=list(CHAOS_FAULT_ACTIVE.labels))
        for labels, value in self.series():
            family.add_metric([labels[name] for name in CHAOS_FAULT_ACTIVE.labels], value)
        yield family


@dataclass(frozen=True)
class RunFaults:
    """What the runner tells the gauge about one run: a fault starting, its injection verified, the rollback."""

    gauge: FaultGauge
    run: int
    experiment: str

    def started(self, fault: Fault, *, lasting: bool) -> None:
        """``fault`` is about to be injected; the gauge follows the object as the action fills it in."""
        self.gauge._track(_Tracked(self.run, self.experiment, fault, lasting))

    def settled(self, fault: Fault) -> None:
        """The action returned: ``fault.injected`` says whether it happened."""
        self.gauge._settle(self.run, fault)

    def rolled_back(self) -> None:
        """The rollbacks ran: no fault of this run acts any more."""
        self.gauge._end(self.run)
