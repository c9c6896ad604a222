"""The supervisor: a background loop that keeps pods running, like the kubelet does for its node.

Every tick (~100 ms) it reaps exited processes and says why they ended, restarts pods that should run
with crash-loop backoff (0.5 s, doubling, at most 30 s; back to 0.5 s after 30 s ready), picks up the
ports pods report, and probes readiness and liveness. Probes run on a thread pool, so one hung pod
(SIGSTOP) delays nobody else's probes or restarts.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import httpx

from engines.orchestrator.events import EventLog
from engines.orchestrator.fleet import Backoff, Probes
from engines.orchestrator.pod import Intent, Pod, PodState, Probe, probe
from exporters.engine_state import EngineStateExporter

log = logging.getLogger(__name__)

TICK_S = 0.1
_PROBED_STATES = frozenset({PodState.STARTING, PodState.READY, PodState.UNREADY})


def exit_reason(pod: Pod, returncode: int) -> str:
    """Why a pod's process ended, in the contract's restart-reason vocabulary (plus "stopped")."""
    if pod.intent is Intent.STOP:
        return "stopped"
    if pod.intent is Intent.RESTART:
        return "requested"
    if pod.kill_reason:
        return pod.kill_reason
    if returncode == -signal.SIGKILL and pod.oom_killed():
        return "oom"  # Kubernetes' OOMKilled: the kernel's OOM killer, in the pod's memory cgroup
    if returncode == -signal.SIGKILL:
        return "killed"
    if returncode == 0:
        return "exited"  # a node exits 0 only after a drain: someone else sent it SIGTERM
    return "crashed"


def next_backoff(current: float, policy: Backoff) -> tuple[float, float]:
    """(delay before this restart, delay before the next one)."""
    delay = current or policy.initial_s
    return delay, min(delay * 2, policy.max_s)


class Supervisor:
    def __init__(self, lock: threading.RLock, pods: Callable[[], Iterable[Pod]], events: EventLog,
                 exporter: EngineStateExporter, backoff: Backoff, probes: Probes, refused_limit_s: float,
                 on_change: Callable[[], None]) -> None:
        self._lock = lock
        self._pods = pods
        self._events = events
        self._exporter = exporter
        self._backoff = backoff
        self._probes = probes
        self._refused_limit_s = refused_limit_s
        self._on_change = on_change
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="pod-probe")
        self._client = httpx.Client(limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))

    # --- process start, shared with the orchestrator's operations -----------------------------------

    def start_process(self, pod: Pod) -> bool:
        """Spawn the pod's next process (caller holds the lock); False when the spawn itself failed."""
        try:
            pod.spawn()
        except OSError as e:
            log.error("cannot start pod %s: %s", pod.name, e)
            self._schedule_restart(pod, time.monotonic(), "crashed")
            return False
        self._events.append("pod_started", engine=pod.engine, cluster=pod.cluster, pod=pod.name,
                            pid=pod.pid, generation=pod.generation, version=pod.version)
        self._dirty.set()
        return True

    # --- the loop -------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="orchestrator-supervisor", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    def mark_changed(self) -> None:
        self._dirty.set()

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            try:
                self.tick()
            except Exception:  # the supervisor must outlive any one bad tick
                log.exception("supervisor tick failed")

    def tick(self) -> None:
        now = time.monotonic()
        due: list[tuple[Pod, object, str]] = []
        with self._lock:
            for pod in list(self._pods()):
                self._reap(pod, now)
                self._restart_if_due(pod, now)
                if pod.live and pod.read_port():
                    self._dirty.set()
                self._enforce_startup_deadline(pod, now)
                self._maybe_reset_backoff(pod, now)
                if pod.state in _PROBED_STATES and pod.url and not pod.probe_inflight and now >= pod.next_probe_at:
                    pod.probe_inflight = True
                    pod.next_probe_at = now + (TICK_S if pod.state is PodState.STARTING else self._probes.period_s)
                    due.append((pod, pod.process, pod.url))
        for pod, process, url in due:
            self._executor.submit(self._probe, pod, process, url)
        if self._dirty.is_set():
            self._dirty.clear()
            self._on_change()  # publishes; never called with the lock held

    # --- the pieces of a tick (lock held) ------------------------------------------------------------

    def _reap(self, pod: Pod, now: float) -> None:
        if pod.state in (PodState.PENDING, PodState.BACKOFF, PodState.STOPPED):
            return
        returncode = pod.poll()
        if returncode is None:
            return
        reason = exit_reason(pod, returncode)
        pod.last_exit_code, pod.exited_at, pod.port = returncode, now, None
        self._exporter.add_node_seconds(pod.engine, pod.node_type, now - pod.started_at)
        self._events.append("pod_exited", engine=pod.engine, cluster=pod.cluster, pod=pod.name,
                            returncode=returncode, reason=reason,
                            uptime_s=round(now - pod.started_at, 3))
        self._dirty.set()
        if pod.intent is Intent.STOP:
            pod.state = PodState.STOPPED
        elif pod.intent is Intent.RESTART:
            pod.intent = Intent.RUN
            pod.state, pod.next_start_at, pod.restart_reason = PodState.BACKOFF, now, reason
        else:
            self._schedule_restart(pod, now, reason)

    def _schedule_restart(self, pod: Pod, now: float, reason: str) -> None:
        delay, pod.backoff_s = next_backoff(pod.backoff_s, self._backoff)
        pod.state, pod.next_start_at, pod.restart_reason = PodState.BACKOFF, now + delay, reason
        self._events.append("pod_backoff", engine=pod.engine, cluster=pod.cluster, pod=pod.name,
                            delay_s=delay, reason=reason)

    def _restart_if_due(self, pod: Pod, now: float) -> None:
        if pod.state is not PodState.BACKOFF or now < pod.next_start_at or pod.intent is Intent.STOP:
            return
        reason = pod.restart_reason or "crashed"
        if self.start_process(pod):
            pod.restarts[reason] += 1
            self._exporter.count_restart(pod.engine, pod.cluster, pod.name, reason)
            self._events.append("pod_restarted", engine=pod.engine, cluster=pod.cluster, pod=pod.name,
                                reason=reason, restarts=sum(pod.restarts.values()), pid=pod.pid)

    def _enforce_startup_deadline(self, pod: Pod, now: float) -> None:
        if pod.state is PodState.STARTING and now - pod.started_at > self._probes.startup_timeout_s:
            self._kill_unhealthy(pod, f"not ready {self._probes.startup_timeout_s:g}s after start")

    def _maybe_reset_backoff(self, pod: Pod, now: float) -> None:
        if (pod.backoff_s and pod.state is PodState.READY and pod.ready_since is not None
                and now - pod.ready_since >= self._backoff.reset_after_s):
            pod.backoff_s = 0.0

    def _kill_unhealthy(self, pod: Pod, why: str) -> None:
        pod.kill_reason = "unhealthy"
        pod.state = PodState.TERMINATING
        self._events.append("pod_unhealthy", engine=pod.engine, cluster=pod.cluster, pod=pod.name, why=why)
        pod.signal(signal.SIGKILL)  # a hung process cannot drain; SIGKILL also ends a SIGSTOPped one
        self._dirty.set()

    # --- probes (pool thread) -------------------------------------------------------------------------

    def _probe(self, pod: Pod, process: object, url: str) -> None:
        result = probe(self._client, url, self._probes.timeout_s)
        with self._lock:
            pod.probe_inflight = False
            # The pod may have moved on (restarted, being drained) while the probe was in flight.
            if pod.process is not process or pod.state not in _PROBED_STATES:
                return
            self._apply_probe(pod, result, time.monotonic())

    def _apply_probe(self, pod: Pod, result: Probe, now: float) -> None:
        ids = {"engine": pod.engine, "cluster": pod.cluster, "pod": pod.name}
        pod.probe_failures = pod.probe_failures + 1 if result is Probe.TIMEOUT else 0
        if result is Probe.REFUSED:
            pod.refused_since = pod.refused_since or now
        else:
            pod.refused_since = None
        if result is Probe.READY:
            if pod.state is not PodState.READY:
                pod.state, pod.ready_since = PodState.READY, now
                self._events.append("pod_ready", **ids, seconds=round(now - pod.started_at, 3))
                self._dirty.set()
            return
        if pod.state is PodState.READY:
            pod.state, pod.ready_since = PodState.UNREADY, None
            self._events.append("pod_unready", **ids, probe=result.value)
            self._dirty.set()
        # Liveness. A hung process (SIGSTOP, blocked event loop) lets the kernel accept connections
        # but never answers: timeouts. A refusal means the listener is gone, which is what a node
        # does at the end of a drain before it exits: that only counts once it lasts longer than a
        # whole drain may.
        threshold = self._probes.failure_threshold
        if threshold and pod.probe_failures >= threshold:
            self._kill_unhealthy(pod, f"{pod.probe_failures} probes unanswered within {self._probes.timeout_s:g}s")
        elif threshold and pod.refused_since is not None and now - pod.refused_since > self._refused_limit_s:
            self._kill_unhealthy(pod, f"refusing connections for {now - pod.refused_since:.1f}s")
