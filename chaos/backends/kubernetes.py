"""The Kubernetes backend: chaos on engine pods through the API server, with the official client.

The same calls as the local backend, on what Kubernetes offers:

- ``signal`` sends the signal through ``exec`` into the node container (the node is not PID 1 of its
  container: the manifests share the pod's PID namespace, whose PID 1 is the pause container, since
  PID 1 of a namespace ignores SIGKILL and SIGSTOP sent from inside it);
- ``drain_node`` is an eviction, which honours the PodDisruptionBudget: a 429 is retried with
  exponential backoff (the API's Retry-After when it sends one) and, once the attempts are spent,
  reported as "blocked by PDB";
- ``delete_pod`` deletes with a grace period (the pod's own by default: preStop, SIGTERM, the drain);
- ``failover`` switches the ``enginewatch.io/active`` label of the engine's StatefulSets.

No PID is visible through the API, so ``PodInfo.pid`` is the pod's *incarnation*
(engines.kubernetes.pods): it changes exactly when the pod's UID changes (a replacement) or its node
container's restartCount grows (a restart). ``process_status`` of an incarnation that is no longer
current is None — the same verify-after-inject rule as the local backend's "the PID is gone": a fault
whose pod kept its UID and restart count is reported "not injected".

Gray faults (cgroups, netfilter, stress-ng, slow storage) need the node's kernel or process, which the
API does not reach: they raise Unsupported with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from kubernetes.client import V1DeleteOptions, V1Eviction, V1ObjectMeta, V1Preconditions
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from chaos.backend import BackendError, EngineInfo, GatewayRestart, PodFault, PodInfo, Unsupported
from chaos.backends import _os
from engines.kubernetes import KubernetesState, read_pod
from engines.kubernetes.pods import EnginePod
from foundation import kubernetes as k8s

SIGNALS = ("KILL", "TERM", "STOP", "CONT", "INT")
TOO_MANY_REQUESTS = 429
#: Past the pod's grace period: image pull and scheduling of the replacement take this long at most.
REPLACE_SLACK_S = 60.0

# Runs in the node container (Python is there: the image runs the node). It finds the node process in
# /proc rather than assuming a PID, signals it and prints what it did; the exit code says why not.
_SIGNAL_SCRIPT = """
import os, signal, sys
sig, me = sys.argv[1], os.getpid()
for d in sorted(os.listdir('/proc'), key=lambda s: (len(s), s)):
    if not d.isdigit() or int(d) == me:
        continue
    try:
        argv = open('/proc/%s/cmdline' % d, 'rb').read().split(b'\\0')
    except OSError:
        continue
    if b'engines.node' in argv and b'-m' in argv:
        os.kill(int(d), getattr(signal, 'SIG' + sig))
        print('enginewatch-signal pid=%s sig=%s' % (d, sig))
        sys.exit(0)
print('enginewatch-signal none: no engines.node process in this container')
sys.exit(3)
"""
_STAT_SCRIPT = """
import sys
try:
    print('enginewatch-stat ' + open('/proc/%s/stat' % sys.argv[1]).read().rsplit(')', 1)[1].split()[0])
except OSError:
    print('enginewatch-stat gone')
"""
_SIGNALED = re.compile(r"enginewatch-signal pid=(\d+) sig=(\w+)")
_STAT = re.compile(r"enginewatch-stat (\S+)")
# /proc/<pid>/stat state letters, in psutil's words (chaos compares with "stopped").
_PROC_STATES = {"R": "running", "S": "sleeping", "D": "disk-sleep", "T": "stopped", "t": "tracing-stop",
                "I": "idle", "Z": None, "X": None}


@dataclass
class Disruption:
    """One eviction or deletion, and whether it was verified: the pod's UID changed."""

    pod: str
    method: str  # "evict" or "delete"
    old_uid: str
    new_uid: str | None = None
    injected: bool = False
    attempts: int = 0
    seconds: float = 0.0
    error: str | None = None
    evidence: list[str] = field(default_factory=list)

    @property
    def blocked_by_pdb(self) -> bool:
        return bool(self.error and self.error.startswith("blocked by PDB"))

    def to_dict(self) -> dict[str, Any]:
        return {"operation": "drain_node" if self.method == "evict" else "delete_pod", "pod": self.pod,
                "method": self.method, "outcome": "success" if self.injected else "failure",
                "old_uid": self.old_uid, "new_uid": self.new_uid, "attempts": self.attempts,
                "seconds": round(self.seconds, 3), "error": self.error, "evidence": list(self.evidence)}


class KubernetesBackend:
    name = "kubernetes"

    def __init__(self, core: Any, apps: Any, namespace: str, *, state: KubernetesState | None = None,
                 http: httpx.Client | None = None, refresh_s: float = 0.25,
                 sleep: Callable[[float], None] = time.sleep, evict_attempts: int = 6, evict_backoff_s: float = 1.0,
                 evict_backoff_max_s: float = 15.0, replace_slack_s: float = REPLACE_SLACK_S) -> None:
        self.core, self.apps, self.namespace = core, apps, namespace
        self.state = state or KubernetesState(core, apps, namespace)
        self._http = http or httpx.Client(timeout=0.5)
        self._refresh_s = refresh_s
        self._refreshed = float("-inf")
        self._sleep = sleep
        self.evict_attempts, self.evict_backoff_s, self.evict_backoff_max_s = (evict_attempts, evict_backoff_s,
                                                                               evict_backoff_max_s)
        self.replace_slack_s = replace_slack_s
        #: incarnation -> (pod, PID inside the container) of the processes we signaled
        self._signaled: dict[int, tuple[str, int]] = {}

    @classmethod
    def from_kubeconfig(cls, namespace: str, kubeconfig: str | None = None) -> KubernetesBackend:
        """In a cluster (a game-day Job) the service account; elsewhere the kubeconfig."""
        from kubernetes import client, config

        if os.environ.get("KUBERNETES_SERVICE_HOST") and kubeconfig is None:
            config.load_incluster_config()
        else:
            config.load_kube_config(config_file=kubeconfig)
        return cls(client.CoreV1Api(), client.AppsV1Api(), namespace)

    # --- reads ------------------------------------------------------------------------------------------

    def _fresh(self, force: bool = False) -> None:
        """List again unless a list younger than refresh_s is at hand: chaos polls in tight loops."""
        if force or time.monotonic() - self._refreshed >= self._refresh_s:
            try:
                self.state.refresh()
            except ApiException as e:
                raise BackendError(f"listing engine pods in {self.namespace} failed: {e.status} {e.reason}") from None
            self._refreshed = time.monotonic()

    def pods(self) -> list[PodInfo]:
        self._fresh()
        return [PodInfo.from_dict(p.to_dict()) for p in self.state.pods()]

    def engines(self) -> list[EngineInfo]:
        self._fresh()
        return [EngineInfo.from_dict(e.to_dict()) for e in self.state.snapshot()]

    def events(self, since: int = 0) -> list[dict[str, Any]]:
        self._fresh()
        return [e.to_dict() for e in self.state.events(since)]

    def last_event_seq(self) -> int:
        self._fresh()
        return self.state.event_log.last_seq

    def _pod(self, pod: str) -> tuple[Any, EnginePod]:
        raw = self.state.raw_pod(pod)
        engine_pod = read_pod(raw) if raw is not None else None
        if engine_pod is None:
            raise BackendError(f"unknown pod {pod!r} in namespace {self.namespace}")
        return raw, engine_pod

    def process_status(self, pid: int) -> str | None:
        """"running" while the incarnation is current (its stopped state read from /proc when we signaled
        it), None once the pod was replaced or its container restarted."""
        self._fresh()
        current = next((p for p in map(read_pod, self.state.raw_pods()) if p is not None and p.live
                        and p.incarnation == pid), None)
        if current is None:
            return None
        signaled = self._signaled.get(pid)
        if signaled is None:
            return "running"
        output = self._exec(signaled[0], ["python", "-c", _STAT_SCRIPT, str(signaled[1])])
        match = _STAT.search(output)
        letter = match.group(1) if match else "R"
        return None if letter == "gone" else _PROC_STATES.get(letter, "running")

    def node_status(self, pod: str) -> dict[str, Any] | None:
        self._fresh()
        url = next((p.url for p in self.state.pods() if p.pod == pod), None)
        return _os.node_status(url, client=self._http)

    # --- signals through exec ------------------------------------------------------------------------------

    def _exec(self, pod: str, command: list[str]) -> str:
        try:
            out = stream(self.core.connect_get_namespaced_pod_exec, pod, self.namespace, command=command,
                         container=k8s.NODE_CONTAINER, stderr=True, stdin=False, stdout=True, tty=False)
        except ApiException as e:
            raise BackendError(f"exec into pod {pod!r} refused: {e.status} {e.reason}") from None
        return str(out)

    def signal(self, pod: str, sig: str) -> int:
        if sig not in SIGNALS:
            raise BackendError(f"signal {sig!r} is not one of {', '.join(SIGNALS)}")
        self._fresh(force=True)
        _, target = self._pod(pod)
        if not target.live:
            raise BackendError(f"pod {pod!r} has no running node container (state {target.state.value})")
        output = self._exec(pod, ["python", "-c", _SIGNAL_SCRIPT, sig])
        match = _SIGNALED.search(output)
        if match is None:
            raise BackendError(f"exec into pod {pod!r} did not signal the node: {output.strip()[:200] or 'no output'}")
        container_pid = int(match.group(1))
        self._signaled[target.incarnation] = (pod, container_pid)
        fields: dict[str, Any] = {"signal": sig, "pid": target.incarnation, "container_pid": container_pid,
                                  "via": "exec"}
        if container_pid == 1 and sig in ("KILL", "STOP"):
            # The kernel drops these for a namespace's init when sent from inside: expect "not injected".
            fields["note"] = "the node is PID 1 of its PID namespace: SIG" + sig + " from inside is ignored"
        self.state.event_log.append("pod_signaled", engine=target.engine, cluster=target.cluster, pod=pod, **fields)
        return target.incarnation

    # --- disruptions: eviction and deletion -----------------------------------------------------------------

    def _replace_timeout(self, target: EnginePod, grace_s: int | None) -> float:
        grace = grace_s if grace_s is not None else (target.grace_period_s or 30)
        return grace + self.replace_slack_s

    def _verify_replaced(self, d: Disruption, target: EnginePod, timeout_s: float, started: float) -> Disruption:
        deadline = time.monotonic() + timeout_s
        while True:
            self._fresh(force=True)
            raw = self.state.raw_pod(d.pod)
            now = read_pod(raw) if raw is not None else None
            if now is not None and now.uid != d.old_uid:
                d.new_uid, d.injected = now.uid, True
                d.evidence.append(f"{d.pod}: uid {d.old_uid} -> {now.uid} (replaced)")
                break
            if time.monotonic() >= deadline:
                state = "still there, terminating" if now is not None and now.terminating else \
                    "still there" if now is not None else "gone and not recreated"
                d.error = f"{d.method} accepted but the pod was not replaced within {timeout_s:g}s ({state})"
                d.evidence.append(f"{d.pod}: uid {d.old_uid} unchanged after {timeout_s:g}s: {state}")
                break
            self._sleep(min(1.0, max(0.05, self._refresh_s)))
        d.seconds = time.monotonic() - started
        return d

    def evict_pod(self, pod: str, grace_s: int | None = None) -> Disruption:
        """Evict through the Eviction API (PDB honoured); verified by the pod's replacement."""
        self._fresh(force=True)
        _, target = self._pod(pod)
        d = Disruption(pod, "evict", target.uid)
        started = time.monotonic()
        body = V1Eviction(metadata=V1ObjectMeta(name=pod, namespace=self.namespace),
                          delete_options=V1DeleteOptions(grace_period_seconds=grace_s,
                                                         preconditions=V1Preconditions(uid=target.uid)))
        delay, last_refusal = self.evict_backoff_s, ""
        for attempt in range(1, self.evict_attempts + 1):
            d.attempts = attempt
            try:
                self.core.create_namespaced_pod_eviction(pod, self.namespace, body)
                break
            except ApiException as e:
                if e.status != TOO_MANY_REQUESTS:
                    d.error = _refusal(e, pod, target.uid)
                    d.seconds = time.monotonic() - started
                    return d
                last_refusal = _message(e) or "the disruption budget allows no disruption now"
                d.evidence.append(f"attempt {attempt}: 429 {last_refusal}")
                if attempt == self.evict_attempts:
                    d.error = (f"blocked by PDB: {last_refusal} ({attempt} attempts over "
                               f"{time.monotonic() - started:.1f}s)")
                    d.seconds = time.monotonic() - started
                    return d
                self._sleep(min(_retry_after(e) or delay, self.evict_backoff_max_s))
                delay = min(delay * 2, self.evict_backoff_max_s)
        self.state.event_log.append("drain_started", engine=target.engine, cluster=target.cluster, pod=pod,
                                    pid=target.incarnation, via="eviction", attempts=d.attempts)
        self._verify_replaced(d, target, self._replace_timeout(target, grace_s), started)
        self.state.event_log.append("drain_finished", engine=target.engine, cluster=target.cluster, pod=pod,
                                    exit_code=None, seconds=round(d.seconds, 3),
                                    outcome="success" if d.injected else "failure")
        return d

    def delete_pod(self, pod: str, grace_s: int | None = None) -> Disruption:
        """Delete with a grace period (the pod's own when None); verified by the pod's replacement.

        The UID precondition makes sure the pod deleted is the one chosen, not a replacement that
        took its name in between.
        """
        self._fresh(force=True)
        _, target = self._pod(pod)
        d = Disruption(pod, "delete", target.uid, attempts=1)
        started = time.monotonic()
        try:
            self.core.delete_namespaced_pod(pod, self.namespace, grace_period_seconds=grace_s,
                                            body=V1DeleteOptions(grace_period_seconds=grace_s,
                                                                 preconditions=V1Preconditions(uid=target.uid)))
        except ApiException as e:
            d.error = _refusal(e, pod, target.uid)
            d.seconds = time.monotonic() - started
            return d
        d.evidence.append(f"{pod}: deleted with grace {grace_s if grace_s is not None else target.grace_period_s}s")
        return self._verify_replaced(d, target, self._replace_timeout(target, grace_s), started)

    def drain_node(self, pod: str) -> dict[str, Any]:
        """The graceful drain of Kubernetes: an eviction (PDB honoured), then the controller's replacement."""
        d = self.evict_pod(pod)
        if d.error and not d.injected:
            raise BackendError(d.error)
        return d.to_dict()

    # --- routing ------------------------------------------------------------------------------------------------

    def failover(self, engine: str, clusters: list[str]) -> dict[str, Any]:
        self._fresh(force=True)
        sets = {s.metadata.labels.get(k8s.LABEL_CLUSTER): s for s in self.state.raw_statefulsets()
                if (s.metadata.labels or {}).get(k8s.LABEL_ENGINE) == engine}
        if not sets:
            raise BackendError(f"unknown engine {engine!r}: no StatefulSet in {self.namespace} carries it")
        unknown = sorted(set(clusters) - set(sets))
        if unknown or not clusters:
            raise BackendError(f"engine {engine!r} has clusters {sorted(sets)}; cannot route to {unknown or clusters}")
        previous = next((e.active_clusters for e in self.state.snapshot() if e.name == engine), ())
        started = time.monotonic()
        for cluster, sts in sorted(sets.items()):
            body = {"metadata": {"labels": {k8s.LABEL_ACTIVE: "true" if cluster in clusters else "false"}}}
            try:
                self.apps.patch_namespaced_stateful_set(sts.metadata.name, self.namespace, body)
            except ApiException as e:
                raise BackendError(f"patching StatefulSet {sts.metadata.name} refused: {e.status} {e.reason}") from None
        self.state.event_log.append("active_clusters_switched", engine=engine, clusters=sorted(clusters),
                                    previous=list(previous))
        self._fresh(force=True)
        return {"operation": "failover", "engine": engine, "outcome": "success", "clusters": sorted(clusters),
                "previous": list(previous), "seconds": round(time.monotonic() - started, 3)}

    def upgrade(self, engine: str, version: str) -> dict[str, Any]:
        raise Unsupported("a version change on Kubernetes is a deploy, not an API call: render a cluster with the "
                          "new version (a new StatefulSet), apply it, then fail over to it")

    def restart_gateway(self) -> GatewayRestart:
        raise Unsupported("the gateway is a Deployment behind a Service: restart it with "
                          f"`kubectl rollout restart deployment/{k8s.GATEWAY_NAME}`; it has no single process")

    def gateway_pid(self) -> int | None:
        return None

    # --- gray faults ------------------------------------------------------------------------------------------

    @staticmethod
    def _no_kernel(action: str, why: str) -> Unsupported:
        return Unsupported(f"{action} on Kubernetes: {why}")

    def throttle_cpu(self, pod: str, cpus: float) -> PodFault:
        raise self._no_kernel("throttle_cpu", "a CPU limit is part of the pod spec and the API cannot change it "
                                              "without replacing the pod")

    def limit_memory(self, pod: str, limit_bytes: int) -> PodFault:
        raise self._no_kernel("limit_memory", "a memory limit is part of the pod spec and the API cannot change "
                                              "it without replacing the pod")

    def partition(self, pod: str, reject: bool = False, probability: float | None = None) -> PodFault:
        raise self._no_kernel("packet_loss" if probability is not None else "partition",
                              "netfilter rules live on the node, which the API does not reach (a NetworkPolicy "
                              "is not a partition: it leaves established connections alone)")

    def noisy_neighbor(self, pod: str, kind: str, workers: int, vm_bytes: int, cpus: float,
                       timeout_s: float) -> PodFault:
        raise self._no_kernel("noisy_neighbor", "stress-ng in the pod's cgroup needs the node's kernel")

    def slow_storage(self, pod: str, latency_s: float) -> PodFault:
        raise self._no_kernel("slow_storage", "the node's fault knobs need its admin token, which the "
                                              "manifests do not hand out")


def _message(e: ApiException) -> str:
    with contextlib.suppress(TypeError, ValueError, AttributeError):
        body = json.loads(e.body) if isinstance(e.body, str | bytes) else None
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    return str(e.reason or "")


def _retry_after(e: ApiException) -> float | None:
    with contextlib.suppress(TypeError, ValueError, AttributeError):
        value = (e.headers or {}).get("Retry-After")
        return float(value) if value is not None else None
    return None


def _refusal(e: ApiException, pod: str, uid: str) -> str:
    if e.status == 404:
        return f"pod {pod!r} is gone: nothing to disrupt"
    if e.status == 409:
        return f"pod {pod!r} is no longer uid {uid} (replaced in between): nothing was disrupted"
    if e.status == 500 and "disruption budget" in _message(e).lower():
        return f"the API cannot evict {pod!r}: {_message(e)} (more than one PDB selects it?)"
    return f"the API refused to disrupt {pod!r}: {e.status} {_message(e)}"
