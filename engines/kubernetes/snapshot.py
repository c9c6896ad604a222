"""Engine snapshots from StatefulSets and pods: the same objects the local orchestrator's snapshot() returns.

One StatefulSet is one cluster of an engine; its labels name the engine, cluster, version and node
type, its annotations the engine's cluster bounds, and the ``enginewatch.io/active`` label whether the
gateway routes to it. Engine states map Kubernetes conditions onto the orchestrator's lifecycle:

- STOPPING: a StatefulSet is being deleted, or every one is scaled to 0 while pods remain;
- STOPPED: every StatefulSet is scaled to 0 and no pod is left;
- RESIZING: a StatefulSet's pods do not match its spec yet (replicas changing, or a rollout of a new
  template revision under way);
- DRAINING: the specs are settled but a pod is terminating (an eviction, a deletion, a node drain);
- STARTING: until every active cluster has been fully ready once (remembered by the caller);
- RUNNING: otherwise; a node that later fails leaves the engine RUNNING, as locally.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engines.kubernetes.pods import EnginePod
from engines.orchestrator.fleet import MAX_CLUSTERS
from engines.orchestrator.snapshot import ClusterSnapshot, EngineSnapshot, PodSnapshot
from foundation import kubernetes as k8s


@dataclass(frozen=True)
class ClusterSet:
    """What enginewatch reads of one V1StatefulSet."""

    name: str
    engine: str
    cluster: str
    version: str
    node_type: str
    replicas: int
    current_replicas: int  # pods the controller has now (status.replicas)
    ready_replicas: int
    active: bool | None  # None: the label is absent
    min_clusters: int
    max_clusters: int
    deleting: bool
    rolling: bool  # a new template revision is being rolled out, or the controller has not caught up


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def read_statefulset(sts: Any) -> ClusterSet | None:
    """The cluster of a V1StatefulSet; None for one that is not an engine cluster."""
    meta = sts.metadata
    labels = dict(meta.labels or {}) if meta else {}
    if labels.get(k8s.LABEL_COMPONENT) != k8s.COMPONENT_NODE or k8s.LABEL_ENGINE not in labels \
            or k8s.LABEL_CLUSTER not in labels:
        return None
    annotations = dict(meta.annotations or {})
    spec, status = sts.spec, sts.status
    replicas = _int(spec.replicas if spec else None, 1)  # the API's default when unset
    generation, observed = meta.generation, status.observed_generation if status else None
    rolling = bool(status is not None and (
        (generation is not None and observed is not None and observed < generation)
        or (status.update_revision and status.current_revision and status.update_revision != status.current_revision)))
    active = labels.get(k8s.LABEL_ACTIVE)
    return ClusterSet(
        name=meta.name, engine=labels[k8s.LABEL_ENGINE], cluster=labels[k8s.LABEL_CLUSTER],
        version=labels.get(k8s.LABEL_VERSION, ""), node_type=labels.get(k8s.LABEL_NODE_TYPE, ""),
        replicas=replicas, current_replicas=_int(status.replicas if status else 0, 0),
        ready_replicas=_int(status.ready_replicas if status else 0, 0),
        active=None if active is None else active == "true",
        min_clusters=_int(annotations.get(k8s.ANNOTATION_MIN_CLUSTERS), 1),
        max_clusters=_int(annotations.get(k8s.ANNOTATION_MAX_CLUSTERS), MAX_CLUSTERS),
        deleting=meta.deletion_timestamp is not None, rolling=rolling,
    )


def pod_snapshot(pod: EnginePod, restarts_by_reason: Mapping[str, int] | None = None) -> PodSnapshot:
    """``pid`` holds the pod's incarnation (see engines.kubernetes.pods) while the container runs."""
    if restarts_by_reason is None:
        restarts_by_reason = {pod.last_restart_reason: pod.restart_count} if pod.restart_count else {}
    return PodSnapshot(
        pod=pod.name, engine=pod.engine, cluster=pod.cluster, node=pod.node, version=pod.version,
        type=pod.node_type, state=pod.state.value, ready=pod.ready,
        pid=pod.incarnation if pod.live else None, port=pod.port if pod.live else None, url=pod.url,
        generation=pod.restart_count + 1, restarts_by_reason=dict(restarts_by_reason),
        started_at=pod.started_at.timestamp() if pod.started_at else None, last_exit_code=pod.last_exit_code,
    )


def _cluster_state(cs: ClusterSet, active: bool, ready: int) -> str:
    # The orchestrator's cluster states are about routing: an active cluster is RUNNING even with a
    # node down; an inactive one is STARTING while it comes up (a green cluster), DRAINING once emptied.
    if active:
        return "RUNNING"
    if cs.replicas == 0:
        return "DRAINING"
    return "RUNNING" if ready >= cs.replicas else "STARTING"


def engine_state(sets: Sequence[ClusterSet], pods: Sequence[EnginePod], active: Iterable[str],
                 reached_running: bool) -> str:
    """The engine's lifecycle state (see the module doc); ``reached_running``: it was fully ready once."""
    active = set(active)
    if any(s.deleting for s in sets):
        return "STOPPING"
    if all(s.replicas == 0 for s in sets):
        return "STOPPING" if pods else "STOPPED"
    if any(s.rolling or s.current_replicas != s.replicas for s in sets):
        return "RESIZING"
    if any(p.terminating for p in pods):
        return "DRAINING"
    if reached_running or all_active_ready(sets, pods, active):
        return "RUNNING"
    return "STARTING"


def all_active_ready(sets: Sequence[ClusterSet], pods: Sequence[EnginePod], active: set[str]) -> bool:
    for s in sets:
        if s.cluster in active:
            ready = sum(1 for p in pods if p.cluster == s.cluster and p.ready)
            if ready < s.replicas:
                return False
    return bool(active)


def engine_snapshots(sets: Iterable[ClusterSet], pods: Iterable[EnginePod], *,
                     restarts: Mapping[str, Mapping[str, int]] | None = None,
                     reached_running: Iterable[str] = ()) -> tuple[EngineSnapshot, ...]:
    """One EngineSnapshot per engine that has a StatefulSet, clusters and pods sorted by name.

    ``restarts`` maps pod names to restarts by reason as a watcher counted them; without it, a pod's
    restarts are attributed to its last termination's reason. ``reached_running`` names the engines
    that were fully ready once.
    """
    by_engine: dict[str, list[ClusterSet]] = {}
    for s in sets:
        by_engine.setdefault(s.engine, []).append(s)
    pods_by_set: dict[tuple[str, str], list[EnginePod]] = {}
    for p in pods:
        pods_by_set.setdefault((p.engine, p.cluster), []).append(p)
    reached = set(reached_running)
    out = []
    for engine, engine_sets in sorted(by_engine.items()):
        engine_sets.sort(key=lambda s: s.cluster)
        engine_pods = [p for s in engine_sets for p in pods_by_set.get((engine, s.cluster), [])]
        labelled = [s.cluster for s in engine_sets if s.active]
        # No StatefulSet says: every cluster takes queries (a fleet deployed without blue-green).
        active = tuple(labelled) if any(s.active is not None for s in engine_sets) else \
            tuple(s.cluster for s in engine_sets)
        clusters = []
        for s in engine_sets:
            cluster_pods = sorted(pods_by_set.get((engine, s.cluster), []), key=lambda p: _index(p.node))
            snaps = tuple(pod_snapshot(p, (restarts or {}).get(p.name)) for p in cluster_pods)
            clusters.append(ClusterSnapshot(s.cluster, s.version, _cluster_state(s, s.cluster in active,
                                                                               sum(p.ready for p in snaps)),
                                            s.replicas, snaps))
        first = next((s for s in engine_sets if s.cluster in active), engine_sets[0])
        out.append(EngineSnapshot(
            name=engine, type=first.node_type, state=engine_state(engine_sets, engine_pods, active, engine in reached),
            version=first.version,
            nodes_per_cluster=max((s.replicas for s in engine_sets if s.cluster in active), default=first.replicas),
            desired_clusters=len(active), min_clusters=first.min_clusters, max_clusters=first.max_clusters,
            active_clusters=active, clusters=tuple(clusters), operation=None, previous_version=None,
        ))
    return tuple(out)


def _index(node: str) -> int:
    digits = node.removeprefix(k8s.NODE_PREFIX)
    return int(digits) if digits.isdigit() else 0
