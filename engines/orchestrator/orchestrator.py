"""The local orchestrator: owns the pods of every engine of a fleet and runs operations on them.

Locking: ``_lock`` (one for the fleet) guards every pod and engine field and is held only for short,
non-blocking steps; each engine's ``op_lock`` serializes its operations and is held while they wait
(for pods to become ready, for drains). Publishing and calls to the gateway never hold ``_lock``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from opentelemetry import trace

from engines.node.config import NODE_TYPES
from engines.orchestrator.engine import Cluster, ClusterState, Engine
from engines.orchestrator.errors import (
    Conflict,
    EngineBusy,
    InvalidRequest,
    OperationFailed,
    OrchestratorError,
    PodNotRunning,
    UnknownCluster,
    UnknownEngine,
    UnknownPod,
)
from engines.orchestrator.events import Event, EventLog
from engines.orchestrator.fleet import MAX_NODES_PER_CLUSTER, Fleet, check_version
from engines.orchestrator.gate import ReleaseGate
from engines.orchestrator.lifecycle import EngineState
from engines.orchestrator.oom import OomWatch
from engines.orchestrator.pod import Intent, Pod, PodConfig, PodState
from engines.orchestrator.publish import Publisher
from engines.orchestrator.result import OperationResult
from engines.orchestrator.routing import GatewayError, GatewayLink
from engines.orchestrator.snapshot import ClusterSnapshot, EngineSnapshot, PodSnapshot
from engines.orchestrator.supervisor import Supervisor
from exporters.engine_state import EngineStateExporter
from exporters.tracing import get_tracer

log = logging.getLogger(__name__)
tracer = get_tracer(__name__)

#: How long an operation waits for another one on the same engine before answering "busy".
BUSY_WAIT_S = 5.0
#: A pod that ends this many times while an operation waits for it to be ready fails the operation.
START_ATTEMPTS = 3
WAIT_POLL_S = 0.05
#: After SIGKILL, how long to wait for the kernel to reap a pod.
KILL_WAIT_S = 5.0
SIGNALS: dict[str, signal.Signals] = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM,
                                      "STOP": signal.SIGSTOP, "CONT": signal.SIGCONT}


class Orchestrator:
    """Engines of a fleet as OS processes on this machine. Usable in-process and over HTTP (serve())."""

    def __init__(self, fleet: Fleet, state_dir: Path, *, storage_dir: Path | None = None,
                 gateway_url: str | None = None, gateway_token: str | None = None,
                 admin_token: str | None = None, node_env: Mapping[str, str] | None = None,
                 gate_url: str | None = None) -> None:
        self.fleet = fleet
        self.state_dir = Path(state_dir)
        self.admin_token = admin_token or secrets.token_urlsafe(24)
        #: For the nodes' admin API (fault knobs): only the orchestrator talks to it, so it has its own token.
        self._node_token = secrets.token_urlsafe(24)
        self._storage_dir = storage_dir
        self._node_env = dict(node_env or {})
        self._pod_config: PodConfig | None = None
        self._lock = threading.RLock()
        self._events = EventLog()
        self._engines = {spec.name: Engine(spec) for spec in fleet.engines}
        self._pods: dict[str, Pod] = {}  # every pod with a process or a pending restart
        self._stopping = threading.Event()
        self._gateway = GatewayLink(gateway_url, gateway_token)
        self._gate = ReleaseGate(gate_url)
        self.exporter = EngineStateExporter(self.snapshot, {name: t.units_per_second for name, t in NODE_TYPES.items()})
        for name in self._engines:
            self.exporter.add_engine(name)
        self._publisher = Publisher(self.state_dir)
        self._supervisor = Supervisor(self._lock, lambda: list(self._pods.values()), self._events,
                                      self.exporter, fleet.restart_backoff, fleet.probes,
                                      fleet.grace_period_s + fleet.drain_slack_s, self._publish)
        self._api: Any = None  # api.ApiServer, imported lazily: in-process users need no web stack

    # --- wiring ----------------------------------------------------------------------------------------

    @property
    def topology_path(self) -> Path:
        return self._publisher.topology_path

    @property
    def file_sd_path(self) -> Path:
        return self._publisher.file_sd_path

    @property
    def node_token_path(self) -> Path:
        """The file (0600) holding the bearer token of the nodes' admin API, written by start(): the
        gateway reads it to cancel queries on nodes."""
        return self.state_dir / "run" / "node-admin-token"

    def attach_gateway(self, url: str | None, token: str | None) -> None:
        """Where the gateway's admin API is (it usually starts after us: it reads our topology file)."""
        self._gateway = GatewayLink(url, token)

    def attach_gate(self, url: str | None) -> None:
        """The SLO service whose error-budget gate upgrades consult (engines.orchestrator.gate); None: none."""
        self._gate = ReleaseGate(url)

    def serve(self) -> str:
        """Serve the HTTP API on a free loopback port; returns its base URL."""
        from engines.orchestrator.api import ApiServer

        if self._api is None:
            self._api = ApiServer(self)
            self._api.start()
        return str(self._api.url)

    @property
    def url(self) -> str | None:
        return self._api.url if self._api is not None else None

    # --- reading ---------------------------------------------------------------------------------------

    def snapshot(self) -> list[EngineSnapshot]:
        with self._lock:
            return [self._engine_snapshot(e) for e in self._engines.values()]

    def engine(self, name: str) -> EngineSnapshot:
        with self._lock:
            return self._engine_snapshot(self._engine(name))

    def pods(self) -> list[PodSnapshot]:
        return [p for e in self.snapshot() for p in e.pods]

    def pod(self, name: str) -> PodSnapshot:
        with self._lock:
            pod = self._pod(name)
            return _pod_snapshot(pod)

    def consumed_units(self) -> dict[str, float]:
        """Consumption units per engine since this orchestrator started (engine_consumed_units_total)."""
        usage = self.exporter.usage
        totals: dict[str, float] = {name: 0.0 for name in self._engines}
        if usage is not None:
            for (engine, _type), units in usage.values(self.snapshot()).items():
                totals[engine] = totals.get(engine, 0.0) + units
        return totals

    def events(self, since: int = 0, kind: str | None = None) -> list[Event]:
        return self._events.since(since, kind)

    def _engine_snapshot(self, e: Engine) -> EngineSnapshot:
        clusters = tuple(
            ClusterSnapshot(c.name, c.version, c.state.value, c.desired_nodes,
                            tuple(_pod_snapshot(p) for p in c.nodes.values()))
            for c in e.clusters.values())
        return EngineSnapshot(e.name, e.type, e.state.value, e.version, e.nodes_per_cluster, e.desired_clusters,
                              e.spec.min_clusters, e.spec.max_clusters, tuple(e.active), clusters, e.operation,
                              e.previous_version)

    # --- operations --------------------------------------------------------------------------------------

    def start(self, timeout_s: float | None = None) -> list[OperationResult]:
        """Start every engine of the fleet and wait until all their pods are ready."""
        if self._stopping.is_set():
            raise Conflict("a stopped orchestrator does not start again: create a new one")
        running = [e.name for e in self._engines.values() if e.state is not EngineState.STOPPED]
        if running:
            raise Conflict(f"already started: {', '.join(running)}")
        self._prepare()
        self._supervisor.start()
        starts = []
        for engine in self._engines.values():
            op = self._operation(engine, "start")
            with self._lock:
                self._set_state(engine, EngineState.STARTING)
                for _ in range(engine.desired_clusters):
                    self._new_cluster(engine, engine.version)
                # The gateway routes only to ready nodes, so clusters are active from the start.
                engine.active = [c.name for c in engine.clusters.values()]
            starts.append((engine, op))
        self._publish()
        # Every engine's pods were spawned before waiting on any: they start in parallel.
        failures = []
        for engine, op in starts:
            try:
                with op:
                    pods = engine.pods()
                    op.detail.update(pods=[p.name for p in pods])
                    self._wait_ready(pods, timeout_s, f"engine {engine.name} to start")
                    with self._lock:
                        for cluster in engine.clusters.values():
                            cluster.state = ClusterState.RUNNING
                        self._set_state(engine, EngineState.RUNNING)
            except OperationFailed as err:
                failures.append(err)
        self._publish()
        if failures:
            raise OperationFailed("\n".join(str(f) for f in failures), failures[0].result)
        return [op.result for _, op in starts]

    def resize(self, engine: str, clusters: int | None = None, nodes_per_cluster: int | None = None,
               ready_timeout_s: float | None = None) -> OperationResult:
        """Add or remove clusters and nodes. New capacity is routed to only once ready; removed
        capacity is switched away from first, then drained (SIGTERM, in-flight queries finish)."""
        e = self._engine(engine)
        if clusters is None and nodes_per_cluster is None:
            raise InvalidRequest("resize needs clusters or nodes_per_cluster")
        want_clusters = e.desired_clusters if clusters is None else clusters
        want_nodes = e.nodes_per_cluster if nodes_per_cluster is None else nodes_per_cluster
        if not e.spec.min_clusters <= want_clusters <= e.spec.max_clusters:
            raise InvalidRequest(f"clusters={want_clusters} is outside [{e.spec.min_clusters}, "
                                 f"{e.spec.max_clusters}] for engine {engine!r}")
        if not 1 <= want_nodes <= MAX_NODES_PER_CLUSTER:
            raise InvalidRequest(f"nodes_per_cluster={want_nodes} is outside [1, {MAX_NODES_PER_CLUSTER}]")
        with self._operation(e, "resize", clusters=want_clusters, nodes_per_cluster=want_nodes) as op:
            self._require_running(e)
            with self._lock:
                have_nodes = e.nodes_per_cluster
                serving = e.serving_clusters()
                # Inactive clusters go first, then the newest: the oldest active ones keep serving.
                by_preference = sorted(serving, key=lambda c: (c.name in e.active, -_index(c.name)))
                removed = by_preference[: max(0, len(serving) - want_clusters)]
                kept = [c for c in serving if c not in removed]
                self._set_state(e, EngineState.RESIZING)
                # Grow first, so capacity never dips below the old size during a mixed change.
                added: list[Pod] = []
                for cluster in kept:
                    if want_nodes > have_nodes:
                        cluster.desired_nodes = want_nodes
                        added += [self._new_pod(e, cluster, f"n{i}") for i in range(have_nodes + 1, want_nodes + 1)]
                new_clusters = [self._new_cluster(e, e.version, want_nodes)
                                for _ in range(want_clusters - len(serving))]
                added += [p for c in new_clusters for p in c.nodes.values()]
            self._publish()
            try:
                self._wait_ready(added, ready_timeout_s, f"new pods of {engine}")
            except OperationFailed:
                self._rollback(e, added, new_clusters, kept, have_nodes)
                raise
            if new_clusters:
                with self._lock:
                    for cluster in new_clusters:
                        cluster.state = ClusterState.RUNNING
                self._switch_active(e, e.active + [c.name for c in new_clusters])
            drains: list[dict[str, Any]] = []
            surplus: list[Pod] = []
            if removed or want_nodes < have_nodes:
                with self._lock:
                    self._set_state(e, EngineState.DRAINING)
                    for cluster in removed:
                        cluster.state, cluster.desired_nodes = ClusterState.DRAINING, 0
                    for cluster in kept:
                        cluster.desired_nodes = want_nodes
                        surplus += [p for n, p in cluster.nodes.items() if _index(n) > want_nodes]
                keep_active = [name for name in e.active if name not in {c.name for c in removed}]
                if keep_active != e.active:
                    self._switch_active(e, keep_active)
                for pod in surplus:  # routed to until now: the gateway stops first, then the SIGTERM
                    self._gateway_call(e.name, "drain_pod", pod.name)
                drains = self._drain([p for c in removed for p in c.nodes.values()] + surplus)
                self._retire(e, removed, surplus)
            with self._lock:
                e.nodes_per_cluster, e.desired_clusters = want_nodes, want_clusters
                self._set_state(e, EngineState.RUNNING)
            op.detail.update(added_pods=[p.name for p in added], added_clusters=[c.name for c in new_clusters],
                             removed_clusters=[c.name for c in removed], removed_pods=[p.name for p in surplus],
                             drains=drains)
        self._publish()
        return op.result

    def upgrade(self, engine: str, version: str, ready_timeout_s: float | None = None,
                override_budget_gate: bool = False) -> OperationResult:
        """Blue-green: start green clusters at ``version``, switch to them once all are ready, drain blue.
        If green does not become ready in time, it is stopped and blue keeps serving (outcome failure).
        With a gate attached, the engine's error budget is checked first (engines.orchestrator.gate)."""
        try:
            check_version(version)
        except ValueError as err:
            raise InvalidRequest(str(err)) from None
        e = self._engine(engine)
        with self._operation(e, "upgrade", version=version) as op:
            self._require_running(e)
            op.detail.update(from_version=e.version, to_version=version)
            if version == e.version:
                op.detail.update(skipped=f"engine {engine!r} already runs {version}")
            else:
                gate = self._gate.check(self._events, engine, version, e.previous_version, override_budget_gate)
                if gate is not None:
                    op.detail.update(budget_gate=gate)
                self._blue_green(e, version, ready_timeout_s, op.detail)
        self._publish()
        return op.result

    def _blue_green(self, e: Engine, version: str, ready_timeout_s: float | None, detail: dict[str, Any]) -> None:
        with self._lock:
            self._set_state(e, EngineState.RESIZING)
            blue = e.serving_clusters()
            green = [self._new_cluster(e, version) for _ in blue]
            green_pods = [p for c in green for p in c.nodes.values()]
        detail.update(blue=[c.name for c in blue], green=[c.name for c in green])
        self._publish()
        try:
            self._wait_ready(green_pods, ready_timeout_s, f"green clusters of {e.name} at {version}")
        except OperationFailed:
            self._rollback(e, green_pods, green, blue, e.nodes_per_cluster)
            detail.update(rolled_back=True)
            raise
        with self._lock:
            for cluster in green:
                cluster.state = ClusterState.RUNNING
        self._switch_active(e, [c.name for c in green])
        with self._lock:
            self._set_state(e, EngineState.DRAINING)
            for cluster in blue:
                cluster.state, cluster.desired_nodes = ClusterState.DRAINING, 0
        detail.update(drains=self._drain([p for c in blue for p in c.nodes.values()]))
        self._retire(e, blue, [])
        with self._lock:
            e.previous_version, e.version = e.version, version
            self._set_state(e, EngineState.RUNNING)

    def drain_node(self, pod: str, ready_timeout_s: float | None = None) -> OperationResult:
        """Stop routing to the pod, SIGTERM it and wait for its exit, then start a replacement pod."""
        e = self._engine(self._pod(pod).engine)
        with self._operation(e, "drain_node", pod=pod) as op:
            with self._lock:
                target = self._pod(pod)  # still there now that we hold the engine?
                cluster = e.clusters.get(target.cluster)
                if cluster is None or cluster.nodes.get(target.node) is not target \
                        or cluster.state is not ClusterState.RUNNING:
                    raise PodNotRunning(f"pod {pod!r} is being replaced or removed")
            self._gateway_call(e.name, "drain_pod", pod)
            drains = self._drain([target])
            with self._lock:
                self._pods.pop(target.name, None)
                replacement = self._new_pod(e, cluster, target.node)
            self._publish()
            op.detail.update(pod=pod, replacement=replacement.name, exit_code=target.last_exit_code)
            if drains:
                op.detail.update(drains[0])
            self._wait_ready([replacement], ready_timeout_s, f"replacement {replacement.name}")
        self._publish()
        return op.result

    def restart_pod(self, pod: str, ready_timeout_s: float | None = None) -> OperationResult:
        """End the pod's process gracefully and start a new one for the same pod (reason "requested")."""
        e = self._engine(self._pod(pod).engine)
        with self._operation(e, "restart_pod", pod=pod) as op:
            with self._lock:
                target = self._pod(pod)
                if target.intent is Intent.STOP:
                    raise PodNotRunning(f"pod {pod!r} is being stopped")
                old = target.process
                target.intent = Intent.RESTART
                if target.live:
                    target.signal(signal.SIGCONT)  # a paused process cannot handle SIGTERM
                    target.signal(signal.SIGTERM)
                    target.state = PodState.TERMINATING
                else:  # in backoff or not started: start it now
                    target.state, target.next_start_at = PodState.BACKOFF, 0.0
                    target.restart_reason, target.intent = "requested", Intent.RUN
            self._publish()
            grace = self.fleet.grace_period_s + self.fleet.drain_slack_s
            try:
                self._wait(lambda: target.process is not old, grace, f"{pod} to exit")
            except OperationFailed:
                with self._lock:
                    target.signal(signal.SIGKILL)
                self._wait(lambda: target.process is not old, KILL_WAIT_S + 1, f"{pod} to exit after SIGKILL")
            self._wait_ready([target], ready_timeout_s, f"{pod} to be ready again")
            op.detail.update(pod=pod, exit_code=target.last_exit_code, pid=target.pid)
        return op.result

    def failover(self, engine: str, clusters: Sequence[str]) -> OperationResult:
        """Switch the clusters the gateway routes the engine's queries to."""
        e = self._engine(engine)
        wanted = list(dict.fromkeys(clusters))
        if not wanted:
            raise InvalidRequest("failover needs at least one cluster")
        with self._operation(e, "failover", clusters=",".join(wanted)) as op:
            with self._lock:
                for name in wanted:
                    if name not in e.clusters:
                        raise UnknownCluster(name, e.clusters)
                    if e.clusters[name].state is not ClusterState.RUNNING:
                        raise Conflict(f"cluster {name!r} of {engine!r} is {e.clusters[name].state}, not RUNNING")
                previous = list(e.active)
            self._switch_active(e, wanted)
            op.detail.update(previous=previous, active=wanted)
        return op.result

    def signal_pod(self, pod: str, sig: int | str) -> int:
        """Send a signal to one of our pods (chaos). Returns the PID signaled."""
        signum = _signal(sig)
        with self._lock:
            target = self._pod(pod)
            pid = target.pid
            if pid is None or not target.signal(signum):
                raise PodNotRunning(f"pod {pod!r} has no running process (state {target.state})")
            self._events.append("pod_signaled", engine=target.engine, cluster=target.cluster, pod=pod,
                                signal=signal.Signals(signum).name, pid=pid)
        return pid

    def watch_oom(self, pod: str, pid: int, memory_cgroup: Path) -> None:
        """The pod's process ``pid`` now lives in ``memory_cgroup`` (chaos confined it): when it dies of
        SIGKILL after that group's OOM killer fired, its exit reason is "oom", not "killed"."""
        with self._lock:
            target = self._pod(pod)
            if target.pid != pid:
                raise PodNotRunning(f"pod {pod!r} runs pid {target.pid}, not {pid}")
            try:
                target.oom_watch = OomWatch.start(pid, memory_cgroup)
            except ValueError as err:
                raise InvalidRequest(str(err)) from None

    def set_storage_latency(self, pod: str, seconds: float) -> dict[str, Any]:
        """Delay each object-storage read of the pod's node by ``seconds`` (0 lifts it); the node's
        answer, with the read it timed before and after as proof."""
        if seconds < 0:
            raise InvalidRequest(f"storage latency must be >= 0, got {seconds}")
        return self._node_admin(pod, "POST", {"seconds": seconds})

    def storage_latency(self, pod: str) -> dict[str, Any]:
        """The node's storage latency knob and how many reads it has delayed."""
        return self._node_admin(pod, "GET")

    def _node_admin(self, pod: str, method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        with self._lock:
            target = self._pod(pod)
            url = target.url if target.live else None
        if url is None:
            raise PodNotRunning(f"pod {pod!r} is not serving (state {target.state})")
        try:
            response = httpx.request(method, f"{url}/admin/faults/storage-latency", json=body, timeout=10.0,
                                     headers={"Authorization": f"Bearer {self._node_token}"})
        except httpx.HTTPError as err:
            raise PodNotRunning(f"pod {pod!r} did not answer its admin API: {err}") from None
        if response.status_code != 200:
            raise Conflict(f"pod {pod!r} refused the storage latency change: HTTP {response.status_code} "
                           f"{response.text[:200]}")
        result: dict[str, Any] = response.json()
        return result

    def stop(self) -> None:
        """Drain every pod (SIGTERM, grace), kill what is left, and stop the API and the supervisor."""
        self._stopping.set()
        try:
            self._stop_engines()
        finally:
            self._supervisor.stop()
            self._kill_leftovers()
            self._publish()
            if self._api is not None:
                self._api.stop()
                self._api = None

    def _stop_engines(self) -> None:
        engines = [e for e in self._engines.values() if e.state is not EngineState.STOPPED]
        # An operation in progress gives up at its next wait (it sees _stopping); one stuck elsewhere
        # cannot hold the stop back for longer than a grace period.
        ops = [self._begin(e, "stop", busy_wait_s=self.fleet.grace_period_s, force=True) for e in engines]
        with contextlib.ExitStack() as stack:
            for op in ops:
                stack.enter_context(op)
            with self._lock:
                for e in engines:
                    if e.state in (EngineState.RUNNING, EngineState.RESIZING):
                        self._set_state(e, EngineState.DRAINING)
                    for cluster in e.clusters.values():
                        cluster.state, cluster.desired_nodes = ClusterState.DRAINING, 0
                pods = [p for e in engines for p in e.pods()]
            self._publish()
            # All engines drain at once: a stop takes one grace period, not one per engine.
            drains = self._drain(pods, abort_on_stop=False)
            for e, op in zip(engines, ops, strict=True):
                op.detail.update(drains=[d for d in drains if d["engine"] == e.name])
                with self._lock:
                    self._set_state(e, EngineState.STOPPING)
                self._retire(e, list(e.clusters.values()), [])
                with self._lock:
                    e.active = []
                    self._set_state(e, EngineState.STOPPED)

    # --- operation bookkeeping -------------------------------------------------------------------------

    def _begin(self, e: Engine, operation: str, busy_wait_s: float = BUSY_WAIT_S, force: bool = False,
               **attrs: Any) -> _Operation:
        locked = e.op_lock.acquire(timeout=busy_wait_s)
        if not locked and not force:
            raise EngineBusy(f"engine {e.name!r} is busy with {e.operation or 'an operation'}; retry later")
        return _Operation(self, e, operation, attrs, locked)

    def _operation(self, e: Engine, operation: str, **attrs: Any) -> _Operation:
        if self._stopping.is_set():
            raise Conflict("the orchestrator is stopping")
        return self._begin(e, operation, **attrs)

    def _require_running(self, e: Engine) -> None:
        if e.state is not EngineState.RUNNING:
            raise Conflict(f"engine {e.name!r} is {e.state}; this operation needs it RUNNING")

    def _set_state(self, e: Engine, target: EngineState) -> None:
        """Caller holds the lock."""
        previous = e.transition(target)
        self._record_state(e, previous)

    def _record_state(self, e: Engine, previous: EngineState) -> None:
        self._events.append("engine_state", engine=e.name, state=e.state.value, previous=previous.value)
        self._supervisor.mark_changed()

    # --- building blocks ---------------------------------------------------------------------------------

    def _prepare(self) -> None:
        """Storage first, once: pods starting together must not each try to generate it."""
        from engines.storage import ensure_storage

        storage = ensure_storage(self._storage_dir)
        run_dir = self.state_dir / "run"
        self._pod_config = PodConfig(run_dir=run_dir, log_dir=self.state_dir / "logs",
                                     storage_dir=storage, grace_period_s=self.fleet.grace_period_s,
                                     query_timeout_s=self.fleet.query_timeout_s, env=self._node_env,
                                     admin_token_file=_write_secret(self.node_token_path, self._node_token),
                                     history_dir=self.state_dir / "history")

    def _new_cluster(self, e: Engine, version: str, nodes: int | None = None) -> Cluster:
        """Caller holds the lock."""
        count = e.nodes_per_cluster if nodes is None else nodes
        cluster = e.new_cluster(version, count)
        self.exporter.add_cluster(e.name, cluster.name)
        for i in range(1, count + 1):
            self._new_pod(e, cluster, f"n{i}")
        return cluster

    def _new_pod(self, e: Engine, cluster: Cluster, node: str) -> Pod:
        """Caller holds the lock."""
        assert self._pod_config is not None, "start() prepares the pod configuration"
        if self._stopping.is_set():
            raise OperationFailed(f"no new pod for {e.name}/{cluster.name}/{node}: the orchestrator is stopping")
        pod = Pod(e.name, cluster.name, node, cluster.next_generation(node), cluster.version, e.type, e.drain,
                  self._pod_config, e.spec.storage_latency_ms)
        cluster.nodes[node] = pod
        self._pods[pod.name] = pod
        self.exporter.add_pod(e.name, cluster.name, pod.name)
        self._supervisor.start_process(pod)
        return pod

    def _wait(self, predicate: Callable[[], bool], timeout_s: float, what: str,
              abort_on_stop: bool = True) -> None:
        """Poll ``predicate`` under the lock; exceptions it raises propagate (unlike wait_until)."""
        deadline = time.monotonic() + timeout_s
        while True:
            if abort_on_stop and self._stopping.is_set():
                raise OperationFailed(f"gave up waiting for {what}: the orchestrator is stopping")
            with self._lock:
                if predicate():
                    return
            if time.monotonic() >= deadline:
                raise OperationFailed(f"timed out after {timeout_s:.1f}s waiting for {what}")
            time.sleep(WAIT_POLL_S)

    def _wait_ready(self, pods: Sequence[Pod], timeout_s: float | None, what: str) -> None:
        """Wait until every pod is ready; give up early on a pod that keeps failing to start."""
        if not pods:
            return
        timeout = timeout_s if timeout_s is not None else self.fleet.probes.startup_timeout_s + 5
        with self._lock:
            restarts_before = {p.name: sum(p.restarts.values()) for p in pods}

        def crash_looping() -> list[Pod]:
            return [p for p in pods if sum(p.restarts.values()) - restarts_before[p.name] >= START_ATTEMPTS]

        def done() -> bool:
            if crash_looping():
                raise _CrashLoop
            return all(p.ready for p in pods)

        try:
            self._wait(done, timeout, what)
        except (OperationFailed, _CrashLoop) as err:
            with self._lock:
                looping = crash_looping()
                laggards = looping or [p for p in pods if not p.ready]
                tails = "\n".join(f"--- {p.name} ({p.state}, exit code {p.last_exit_code}, log {p.log_path}):\n"
                                  f"{p.log_tail(8)}" for p in laggards[:3])
            reason = (f"gave up waiting for {what}: {', '.join(p.name for p in looping)} failed to start "
                      f"{START_ATTEMPTS} times" if looping else f"{err}; not ready: "
                      f"{', '.join(p.name for p in laggards)}")
            raise OperationFailed(f"{reason}\n{tails}") from None

    def _drain(self, pods: Sequence[Pod], abort_on_stop: bool = True) -> list[dict[str, Any]]:
        """SIGTERM the pods at once, wait for their exits (grace + slack), SIGKILL the late ones."""
        now = time.monotonic()
        with self._lock:
            for pod in pods:
                pod.intent = Intent.STOP
                if pod.live:
                    pod.term_sent_at = now
                    pod.signal(signal.SIGCONT)  # a paused (chaos) process cannot handle SIGTERM
                    pod.signal(signal.SIGTERM)
                    pod.state = PodState.TERMINATING
                    self._events.append("drain_started", engine=pod.engine, cluster=pod.cluster, pod=pod.name,
                                        pid=pod.pid)
                else:
                    pod.term_sent_at = None
                    pod.state = PodState.STOPPED
        self._publish()
        grace = self.fleet.grace_period_s + self.fleet.drain_slack_s
        with contextlib.suppress(OperationFailed):
            self._wait(lambda: all(p.state is PodState.STOPPED for p in pods), grace, "drains",
                       abort_on_stop=abort_on_stop)
        with self._lock:
            late = [p for p in pods if p.state is not PodState.STOPPED]
            for pod in late:
                pod.signal(signal.SIGKILL)
        if late:
            with contextlib.suppress(OperationFailed):
                self._wait(lambda: all(p.state is PodState.STOPPED for p in late), KILL_WAIT_S, "killed pods",
                           abort_on_stop=False)
        results = []
        with self._lock:
            for pod in pods:
                if pod.term_sent_at is None:
                    continue  # had no process: nothing was drained
                seconds = (pod.exited_at or time.monotonic()) - pod.term_sent_at
                outcome = "success" if pod.last_exit_code == 0 and pod.state is PodState.STOPPED else "failure"
                self.exporter.count_drain(pod.engine, pod.cluster, outcome)
                self._events.append("drain_finished", engine=pod.engine, cluster=pod.cluster, pod=pod.name,
                                    exit_code=pod.last_exit_code, seconds=round(seconds, 3), outcome=outcome)
                results.append({"engine": pod.engine, "pod": pod.name, "exit_code": pod.last_exit_code,
                                "drain_seconds": round(seconds, 3), "drain_outcome": outcome})
        return results

    def _retire(self, e: Engine, clusters: Sequence[Cluster], pods: Sequence[Pod]) -> None:
        """Forget drained clusters and pods."""
        with self._lock:
            for cluster in clusters:
                for pod in cluster.nodes.values():
                    self._pods.pop(pod.name, None)
                e.clusters.pop(cluster.name, None)
            for pod in pods:
                self._pods.pop(pod.name, None)
                cluster_of = e.clusters.get(pod.cluster)
                if cluster_of is not None and cluster_of.nodes.get(pod.node) is pod:
                    del cluster_of.nodes[pod.node]
        self._publish()

    def _rollback(self, e: Engine, pods: Sequence[Pod], clusters: Sequence[Cluster], serving: Sequence[Cluster],
                  nodes_per_cluster: int) -> None:
        """Undo the growth part of a resize or upgrade that did not become ready: blue keeps serving."""
        self._drain(pods, abort_on_stop=False)
        self._retire(e, clusters, pods)
        with self._lock:
            for cluster in serving:
                cluster.desired_nodes = nodes_per_cluster
            if e.state is EngineState.RESIZING and not self._stopping.is_set():
                self._set_state(e, EngineState.RUNNING)

    def _switch_active(self, e: Engine, clusters: Sequence[str]) -> None:
        with self._lock:
            previous, e.active = e.active, list(clusters)
            self._events.append("active_clusters_switched", engine=e.name, clusters=list(clusters),
                                previous=previous)
        # The gateway switches at once; the topology file (new revision) says the same a moment later.
        self._gateway_call(e.name, "switch_active_clusters", e.name, list(clusters))
        self._publish()

    def _gateway_call(self, engine: str, method: str, *args: Any) -> None:
        if not self._gateway.configured:
            return
        try:
            getattr(self._gateway, method)(*args)
        except GatewayError as err:
            log.warning("gateway call failed: %s", err)
            self._events.append("gateway_error", engine=engine, call=method, error=str(err))

    def _publish(self) -> None:
        self._publisher.publish(self.snapshot)

    def _kill_leftovers(self) -> None:
        """Last line of defence: no process of ours survives stop()."""
        with self._lock:
            pods = list(self._pods.values())
            self._pods.clear()
        for pod in pods:
            if pod.process is not None and pod.process.alive:
                pod.process.signal(signal.SIGKILL)
                pod.process.wait(KILL_WAIT_S)

    # --- lookups -----------------------------------------------------------------------------------------

    def _engine(self, name: str) -> Engine:
        try:
            return self._engines[name]
        except KeyError:
            raise UnknownEngine(name, self._engines) from None

    def _pod(self, name: str) -> Pod:
        with self._lock:
            pod = self._pods.get(name)
            if pod is None:
                raise UnknownPod(name, self._pods)
            return pod


class _CrashLoop(Exception):
    pass


class _Operation:
    """One operation on one engine: holds its op_lock, times it, traces it, records its outcome.

    Created when the engine's lock is taken (the clock starts), then entered with ``with``.
    """

    def __init__(self, orch: Orchestrator, engine: Engine, name: str, attrs: dict[str, Any],
                 locked: bool) -> None:
        self._orch, self._engine, self.name, self._locked = orch, engine, name, locked
        self.detail: dict[str, Any] = {}
        self.result = OperationResult(engine.name, name, "failure", 0.0)
        self._t0 = time.monotonic()
        self._span = tracer.start_span(
            f"orchestrator.{name}",
            attributes={"enginewatch.engine": engine.name, "enginewatch.operation": name,
                        **{f"enginewatch.{k}": str(v) for k, v in attrs.items()}})
        self._use_span = trace.use_span(self._span, end_on_exit=True)
        engine.operation = name
        orch._events.append("operation_started", engine=engine.name, operation=name, **attrs)

    def __enter__(self) -> _Operation:
        self._use_span.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        seconds = time.monotonic() - self._t0
        try:
            self._record(exc, seconds)
        finally:
            self._use_span.__exit__(exc_type, exc, tb)
            self._engine.operation = None
            if self._locked:
                self._engine.op_lock.release()

    def _record(self, exc: BaseException | None, seconds: float) -> None:
        if isinstance(exc, OrchestratorError) and not isinstance(exc, OperationFailed) and exc.status < 500:
            # Refused before anything changed (bad request, conflict): not an operation outcome.
            self._span.set_attribute("enginewatch.outcome", "refused")
            self._orch._events.append("operation_finished", engine=self._engine.name, operation=self.name,
                                      outcome="refused", seconds=round(seconds, 3), error=str(exc))
            return
        outcome = "success" if exc is None else "failure"
        error = None if exc is None else str(exc)
        self.result = OperationResult(self._engine.name, self.name, outcome, seconds, dict(self.detail), error)
        self._span.set_attribute("enginewatch.outcome", outcome)
        self._orch.exporter.observe_operation(self._engine.name, self.name, outcome, seconds)
        self._orch._events.append("operation_finished", engine=self._engine.name, operation=self.name,
                                  outcome=outcome, seconds=round(seconds, 3), **({"error": error} if error else {}))
        if isinstance(exc, OperationFailed) and exc.result is None:
            exc.result = self.result
        elif exc is not None and not isinstance(exc, OperationFailed):
            log.error("operation %s on %s failed", self.name, self._engine.name, exc_info=exc)


def _pod_snapshot(p: Pod) -> PodSnapshot:
    live = p.live
    return PodSnapshot(p.name, p.engine, p.cluster, p.node, p.version, p.node_type, p.state.value, p.ready,
                       p.pid if live else None, p.port if live else None, p.url if live else None, p.generation,
                       dict(p.restarts), p.started_wall or None, p.last_exit_code)


def _write_secret(path: Path, text: str) -> Path:
    """Created 0600 from the first byte: a token must never sit in a world-readable file, even briefly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def _index(name: str) -> int:
    """3 from "c3" or "n3": clusters and node slots are numbered in creation order."""
    digits = name.lstrip("cn")
    return int(digits) if digits.isdigit() else 0


def _signal(sig: int | str) -> int:
    if isinstance(sig, str):
        key = sig.upper().removeprefix("SIG")
        if key not in SIGNALS:
            raise InvalidRequest(f"signal {sig!r} is not one of {', '.join(SIGNALS)}")
        return int(SIGNALS[key])
    if sig not in {int(s) for s in SIGNALS.values()}:
        raise InvalidRequest(f"signal {sig} is not one of {', '.join(SIGNALS)}")
    return int(sig)
