"""The gateway's live view of the fleet: engines, their active clusters, and one ``Upstream`` per pod.

Active clusters have two writers. The topology file (the orchestrator's declared state) and the
admin API (the orchestrator's immediate, atomic switch). The rule: an admin switch holds until the
file's revision changes; then the file wins, because the orchestrator writes every switch it makes
into the file too and a newer file is newer intent.

Each switch is a single assignment on the event loop, so a query sees either the old set or the new
one, never a mix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from engines.gateway.breaker import CircuitBreaker
from engines.gateway.topology import ClusterSpec, Topology
from engines.gateway.upstream import Upstream

UpstreamKey = tuple[str, str, str, str, str]


class UnknownEngine(LookupError):
    pass


class UnknownCluster(ValueError):
    pass


class UnknownPod(LookupError):
    pass


@dataclass(eq=False)
class EngineView:
    name: str
    state: str
    clusters: dict[str, ClusterSpec]
    upstreams: tuple[Upstream, ...]
    file_active: tuple[str, ...]
    override: tuple[str, ...] | None = None
    #: Upstreams of the active clusters, precomputed: routing reads this on every query.
    candidates: tuple[Upstream, ...] = field(default=())

    @property
    def active_clusters(self) -> tuple[str, ...]:
        return self.override if self.override is not None else self.file_active

    def refresh(self) -> None:
        active = set(self.active_clusters)
        self.candidates = tuple(u for u in self.upstreams if u.cluster in active)


def _key(u: Upstream) -> UpstreamKey:
    return (u.engine, u.cluster, u.node, u.pod, u.url)


class Registry:
    def __init__(self, breaker_factory: Callable[[], CircuitBreaker] = CircuitBreaker,
                 on_added: Callable[[Upstream], None] = lambda u: None,
                 on_removed: Callable[[Upstream], None] = lambda u: None) -> None:
        self.breaker_factory = breaker_factory
        self.on_added = on_added
        self.on_removed = on_removed
        self.revision = -1
        self.engines: dict[str, EngineView] = {}
        self._upstreams: dict[UpstreamKey, Upstream] = {}

    def apply(self, topology: Topology) -> None:
        """Take a new topology, keeping the state of every upstream that is still there."""
        revision_changed = topology.revision != self.revision
        previous = self._upstreams
        current: dict[UpstreamKey, Upstream] = {}
        engines: dict[str, EngineView] = {}
        for name, spec in topology.engines.items():
            ups: list[Upstream] = []
            for cluster in spec.clusters.values():
                for n in cluster.nodes:
                    key = (name, cluster.name, n.node, n.pod, n.url.rstrip("/"))
                    u = previous.get(key)
                    if u is None:
                        u = Upstream(name, cluster.name, n.node, n.pod, n.url, cluster.version, n.state,
                                     breaker=self.breaker_factory())
                    else:
                        u.state, u.version = n.state, cluster.version
                    current[key] = u
                    ups.append(u)
            view = EngineView(name, spec.state, spec.clusters, tuple(ups), spec.active_clusters)
            old = self.engines.get(name)
            if old is not None and old.override is not None and not revision_changed:
                kept = tuple(c for c in old.override if c in spec.clusters)
                view.override = kept or None
            view.refresh()
            engines[name] = view
        self._upstreams = current
        self.engines = engines
        self.revision = topology.revision
        for key, u in previous.items():
            if key not in current:
                self.on_removed(u)
        for key, u in current.items():
            if key not in previous:
                self.on_added(u)

    def engine(self, name: str) -> EngineView:
        try:
            return self.engines[name]
        except KeyError:
            raise UnknownEngine(self.unknown_engine_message(name)) from None

    def unknown_engine_message(self, name: str) -> str:
        known = ", ".join(sorted(self.engines)) or "none"
        return f"unknown engine {name!r}; known engines: {known}"

    def set_active_clusters(self, engine: str, clusters: Sequence[str]) -> tuple[str, ...]:
        """Switch the engine's active clusters at once; returns the previous ones."""
        view = self.engine(engine)
        wanted = tuple(dict.fromkeys(clusters))
        if not wanted:
            raise ValueError("at least one cluster is required")
        unknown = [c for c in wanted if c not in view.clusters]
        if unknown:
            raise UnknownCluster(f"engine {engine!r} has no cluster {', '.join(map(repr, unknown))}; "
                                 f"its clusters: {', '.join(sorted(view.clusters)) or 'none'}")
        previous = view.active_clusters
        view.override = wanted
        view.refresh()
        return previous

    def set_drained(self, pod: str, drained: bool = True) -> list[Upstream]:
        ups = [u for u in self._upstreams.values() if u.pod == pod]
        if not ups:
            raise UnknownPod(f"unknown pod {pod!r}")
        for u in ups:
            u.drained = drained
        return ups

    def cluster_of(self, u: Upstream) -> tuple[Upstream, ...]:
        """The upstreams of ``u``'s cluster, ``u`` included: the peers its latency is judged against."""
        view = self.engines.get(u.engine)
        if view is None:
            return (u,)
        return tuple(p for p in view.upstreams if p.cluster == u.cluster)

    def upstreams(self) -> Iterator[Upstream]:
        return iter(self._upstreams.values())

    def describe(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "engines": {
                name: {"state": v.state, "active_clusters": list(v.active_clusters),
                       "active_source": "admin" if v.override is not None else "topology",
                       "clusters": sorted(v.clusters)}
                for name, v in sorted(self.engines.items())
            },
            "upstreams": [u.describe() for u in self._upstreams.values()],
        }
