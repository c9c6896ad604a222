"""The engine-state source on Kubernetes: StatefulSets and pods, listed and watched with the official client.

It offers what the local orchestrator offers its readers — ``snapshot()`` of EngineSnapshots,
``pods()``, ``events()`` — so the engine-state exporter (exporters.engine_state), the gateway's
topology file (engines.orchestrator.publish) and the chaos backend read Kubernetes exactly as they
read the local platform.

The cache follows the usual informer pattern: list (which gives a resourceVersion), then watch from
that version; a watch that expires (410 Gone) or fails is followed by a fresh list. Every change of a
pod's incarnation (a new UID, a container restart) becomes the same lifecycle events the local
orchestrator logs (pod_started, pod_ready, pod_unready, pod_exited, pod_restarted), and restarts and
drains are counted by reason for the exporter.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from engines.kubernetes.pods import EnginePod, incarnation, read_pod
from engines.kubernetes.snapshot import ClusterSet, all_active_ready, engine_snapshots, read_statefulset
from engines.orchestrator.events import Event, EventLog
from engines.orchestrator.snapshot import EngineSnapshot, PodSnapshot
from foundation import kubernetes as k8s

log = logging.getLogger(__name__)

#: A watch call ends after this long and is renewed: the API server's own limit is similar, and a
#: bounded call lets ``stop`` take effect even when nothing changes.
WATCH_TIMEOUT_S = 300
RETRY_S = 1.0
RETRY_MAX_S = 30.0
GONE = 410


class CoreApi(Protocol):
    """The calls of kubernetes.client.CoreV1Api this module makes."""

    def list_namespaced_pod(self, namespace: str, **kwargs: Any) -> Any: ...


class AppsApi(Protocol):
    """The calls of kubernetes.client.AppsV1Api this module makes."""

    def list_namespaced_stateful_set(self, namespace: str, **kwargs: Any) -> Any: ...


@dataclass
class Hooks:
    """What a consumer (the exporter) is told as the source sees things happen."""

    on_pod: Callable[[str, str, str], None] = lambda engine, cluster, pod: None
    on_cluster: Callable[[str, str], None] = lambda engine, cluster: None
    on_engine: Callable[[str], None] = lambda engine: None
    #: engine, cluster, pod, reason, count
    on_restart: Callable[[str, str, str, str, int], None] = lambda engine, cluster, pod, reason, n: None
    #: engine, cluster, outcome
    on_drain: Callable[[str, str, str], None] = lambda engine, cluster, outcome: None
    on_change: Callable[[], None] = lambda: None


class KubernetesState:
    """Engine pods and StatefulSets of one namespace, cached; thread-safe."""

    def __init__(self, core: CoreApi, apps: AppsApi, namespace: str, hooks: Hooks | None = None,
                 events: EventLog | None = None) -> None:
        if not k8s.is_dns_label(namespace):
            raise ValueError(f"namespace {namespace!r} is not a valid Kubernetes name (RFC 1123 label)")
        self.core, self.apps, self.namespace = core, apps, namespace
        self.hooks = hooks or Hooks()
        self.event_log = events or EventLog()
        self.selector = k8s.selector_string(k8s.selector(k8s.COMPONENT_NODE))
        self._lock = threading.RLock()
        self._pods: dict[str, Any] = {}  # name -> V1Pod
        self._sets: dict[str, Any] = {}  # name -> V1StatefulSet
        self._seen_uid: dict[str, int] = {}  # pod UID -> restartCount counted so far
        self._restarts: dict[str, Counter[str]] = {}  # pod name -> restarts by reason
        self._known: set[tuple[str, ...]] = set()  # engines, clusters and pods announced to the hooks
        self._reached: set[str] = set()  # engines fully ready once
        self._versions: dict[str, str | None] = {"pods": None, "statefulsets": None}
        self.listed = False

    # --- reads ----------------------------------------------------------------------------------------

    def snapshot(self) -> tuple[EngineSnapshot, ...]:
        with self._lock:
            sets = [s for s in map(read_statefulset, self._sets.values()) if s is not None]
            pods = [p for p in map(read_pod, self._pods.values()) if p is not None]
            return engine_snapshots(sets, pods, restarts={k: dict(v) for k, v in self._restarts.items()},
                                    reached_running=self._reached)

    def pods(self) -> list[PodSnapshot]:
        return [p for e in self.snapshot() for p in e.pods]

    def raw_pod(self, name: str) -> Any | None:
        """The V1Pod as last seen (UID, spec): what chaos needs to act on exactly this pod."""
        with self._lock:
            return self._pods.get(name)

    def raw_pods(self) -> list[Any]:
        with self._lock:
            return list(self._pods.values())

    def raw_statefulsets(self) -> list[Any]:
        with self._lock:
            return list(self._sets.values())

    def events(self, since: int = 0) -> list[Event]:
        return self.event_log.since(since)

    # --- list ------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """List pods and StatefulSets, replacing the cache (and noting what changed)."""
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=self.selector)
        sets = self.apps.list_namespaced_stateful_set(self.namespace, label_selector=self.selector)
        with self._lock:
            self._versions["pods"] = _resource_version(pods)
            self._versions["statefulsets"] = _resource_version(sets)
            current = {p.metadata.name: p for p in pods.items or []}
            for name in set(self._pods) - set(current):
                self._pod_gone(self._pods.pop(name))
            for pod in current.values():
                self._pod_seen(pod)
            self._sets = {s.metadata.name: s for s in sets.items or []}
            self._settle()
            self.listed = True
        self.hooks.on_change()

    # --- watch -----------------------------------------------------------------------------------------

    def watch_once(self, kind: str, timeout_s: int = WATCH_TIMEOUT_S, stop: threading.Event | None = None) -> int:
        """One watch call of ``kind`` ("pods" or "statefulsets") from the cached resourceVersion, applying
        every event until the server ends the call; the number of events applied. Raises ApiException
        (410 when the version expired: the caller lists again)."""
        func = self.core.list_namespaced_pod if kind == "pods" else self.apps.list_namespaced_stateful_set
        w = watch.Watch()
        applied = 0
        kwargs: dict[str, Any] = {"label_selector": self.selector, "timeout_seconds": timeout_s,
                                  "allow_watch_bookmarks": True}
        if self._versions[kind]:
            kwargs["resource_version"] = self._versions[kind]
        for event in w.stream(func, self.namespace, **kwargs):
            if stop is not None and stop.is_set():
                w.stop()
                break
            if event["type"] != "BOOKMARK":
                self._apply(kind, event["type"], event["object"])
                applied += 1
            if w.resource_version:
                self._versions[kind] = w.resource_version
        return applied

    def run(self, stop: threading.Event, timeout_s: int = WATCH_TIMEOUT_S) -> None:
        """List, then watch pods and StatefulSets until ``stop`` is set; relist after any failure."""
        threads = [threading.Thread(target=self._watch_loop, args=(kind, stop, timeout_s),
                                    name=f"k8s-watch-{kind}", daemon=True) for kind in ("pods", "statefulsets")]
        delay = RETRY_S
        while not stop.is_set():
            try:
                self.refresh()
                break
            except (ApiException, OSError) as e:
                log.warning("listing engine pods in %s failed (%s); retrying in %.0fs", self.namespace, e, delay)
                stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)
        for t in threads:
            t.start()
        # The watch threads block in a streaming call for up to timeout_s; they are daemons, so the
        # caller may return (and the process exit) as soon as stop is set.
        while not stop.wait(1.0):
            pass

    def _watch_loop(self, kind: str, stop: threading.Event, timeout_s: int) -> None:
        delay = RETRY_S
        while not stop.is_set():
            try:
                self.watch_once(kind, timeout_s, stop)
                delay = RETRY_S
            except ApiException as e:
                if e.status != GONE:
                    log.warning("watching %s failed: %s %s; relisting in %.0fs", kind, e.status, e.reason, delay)
                    stop.wait(delay)
                    delay = min(delay * 2, RETRY_MAX_S)
                self._relist(stop)
            except OSError as e:  # connection reset, API server restarting
                log.warning("watching %s failed: %s; relisting in %.0fs", kind, e, delay)
                stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                self._relist(stop)

    def _relist(self, stop: threading.Event) -> None:
        if stop.is_set():
            return
        try:
            self.refresh()
        except (ApiException, OSError) as e:
            log.warning("relisting failed: %s", e)

    def _apply(self, kind: str, event_type: str, obj: Any) -> None:
        with self._lock:
            name = obj.metadata.name
            if kind == "pods":
                if event_type == "DELETED":
                    self._pods.pop(name, None)
                    self._pod_gone(obj)
                else:
                    self._pod_seen(obj)
            elif event_type == "DELETED":
                self._sets.pop(name, None)
            else:
                self._sets[name] = obj
            self._settle()
        self.hooks.on_change()

    # --- what changed ------------------------------------------------------------------------------------

    def _pod_seen(self, obj: Any) -> None:
        """A pod was added or changed: compare with the last version of the same name."""
        new = read_pod(obj)
        old_obj = self._pods.get(obj.metadata.name)
        old = read_pod(old_obj) if old_obj is not None else None
        self._pods[obj.metadata.name] = obj
        if new is None:
            return
        self._announce(new.engine)
        self._announce(new.engine, new.cluster)
        self._announce(new.engine, new.cluster, new.name)
        if old is not None and old.uid != new.uid:
            self._pod_gone(old_obj, replaced=True)
            old = None
        counted = self._seen_uid.get(new.uid)
        if counted is None:
            # First sight of this pod: earlier restarts are its history, attributed to its last reason.
            self._seen_uid[new.uid] = new.restart_count
            if new.restart_count:
                self._count_restart(new, new.restart_count)
        elif new.restart_count > counted:
            self._seen_uid[new.uid] = new.restart_count
            self._count_restart(new, new.restart_count - counted)
            self._event("pod_exited", new, returncode=new.last_exit_code, reason=new.last_restart_reason,
                        incarnation=incarnation(new.uid, counted))
            self._event("pod_restarted", new, reason=new.last_restart_reason, restarts=new.restart_count)
        if new.live and (old is None or not old.live or old.incarnation != new.incarnation):
            self._event("pod_started", new, pid=new.incarnation, generation=new.restart_count + 1)
        if new.ready and (old is None or not old.ready):
            self._event("pod_ready", new)
        elif old is not None and old.ready and not new.ready:
            self._event("pod_unready", new)

    def _pod_gone(self, obj: Any, replaced: bool = False) -> None:
        """A pod was deleted (or replaced by a new one of the same name)."""
        pod = read_pod(obj)
        if pod is None:
            return
        self._seen_uid.pop(pod.uid, None)
        self._event("pod_exited", pod, returncode=pod.last_exit_code if not pod.running else None,
                    reason="replaced" if replaced else "deleted", incarnation=pod.incarnation)
        if pod.terminating and not replaced:
            # A graceful deletion's final status: exit 0 is a drain that finished within the grace.
            code = _final_exit_code(obj)
            if code is not None:
                self.hooks.on_drain(pod.engine, pod.cluster, "success" if code == 0 else "failure")

    def _count_restart(self, pod: EnginePod, n: int) -> None:
        reason = pod.last_restart_reason
        self._restarts.setdefault(pod.name, Counter())[reason] += n
        self.hooks.on_restart(pod.engine, pod.cluster, pod.name, reason, n)

    def _announce(self, *key: str) -> None:
        """Tell the hooks about an engine, cluster or pod the first time it shows up."""
        if key in self._known:
            return
        self._known.add(key)
        if len(key) == 1:
            self.hooks.on_engine(key[0])
        elif len(key) == 2:
            self.hooks.on_cluster(key[0], key[1])
        else:
            self.hooks.on_pod(key[0], key[1], key[2])

    def _settle(self) -> None:
        """Remember engines that became fully ready (STARTING ends once), announce clusters."""
        sets = [s for s in map(read_statefulset, self._sets.values()) if s is not None]
        pods = [p for p in map(read_pod, self._pods.values()) if p is not None]
        for engine in sorted({s.engine for s in sets}):
            self._announce(engine)
            engine_sets: list[ClusterSet] = [s for s in sets if s.engine == engine]
            for s in engine_sets:
                self._announce(engine, s.cluster)
            labelled = any(s.active is not None for s in engine_sets)
            active = {s.cluster for s in engine_sets if s.active or not labelled}
            if all_active_ready(engine_sets, [p for p in pods if p.engine == engine], active):
                self._reached.add(engine)

    def _event(self, kind: str, pod: EnginePod, **fields: Any) -> None:
        self.event_log.append(kind, engine=pod.engine, cluster=pod.cluster, pod=pod.name, **fields)


def _final_exit_code(obj: Any) -> int | None:
    for status in (obj.status.container_statuses or []) if obj.status else []:
        if status.name == k8s.NODE_CONTAINER and status.state is not None and status.state.terminated is not None:
            return int(status.state.terminated.exit_code)
    return None


def _resource_version(listing: Any) -> str | None:
    meta = getattr(listing, "metadata", None)
    return getattr(meta, "resource_version", None) if meta is not None else None


def wait_for(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.25,
             sleep: Callable[[float], None] = time.sleep) -> bool:
    """Poll ``predicate`` until true or ``timeout_s`` passed (monotonic clock)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        sleep(interval_s)
