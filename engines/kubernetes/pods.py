"""One engine pod as the Kubernetes API shows it, read into what the local orchestrator would report.

The pod's labels carry its topology (foundation.kubernetes); its status carries readiness, restarts
and the last termination. There is no PID to be had through the API, so a pod's process is named by
its *incarnation*: a number that changes exactly when the pod is replaced (a new UID) or its node
container restarts (restartCount grows). That is the identity chaos checks a kill against.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engines.orchestrator.pod import PodState
from foundation import kubernetes as k8s

#: Kubernetes' reasons for a terminated container, as the contract's restart reasons.
_TERMINATION_REASONS = {"OOMKilled": "oom", "Completed": "exited"}
#: 128 + SIGKILL: killed from outside (chaos, the kubelet after a failed liveness probe or grace expiry).
_KILLED_EXIT = 137


def incarnation(uid: str, restart_count: int) -> int:
    """The identity of one run of a pod's node container; positive and stable across processes."""
    digest = hashlib.sha256(f"{uid}/{restart_count}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF or 1


def restart_reason(reason: str | None, exit_code: int | None) -> str:
    """The contract's restart reason for a container's last termination."""
    if reason in _TERMINATION_REASONS:
        return _TERMINATION_REASONS[reason]
    if exit_code == _KILLED_EXIT:
        return "killed"
    if exit_code == 0:
        return "exited"
    return "crashed"


@dataclass(frozen=True)
class EnginePod:
    """What enginewatch reads of one V1Pod of an engine StatefulSet."""

    name: str
    uid: str
    engine: str
    cluster: str
    node: str
    version: str
    node_type: str
    phase: str
    ip: str | None
    port: int
    ready: bool
    running: bool  # the node container runs now
    waiting_reason: str | None  # e.g. CrashLoopBackOff, ContainerCreating
    terminating: bool  # deletionTimestamp set: preStop, SIGTERM and the drain are under way
    restart_count: int
    started_at: datetime | None
    last_exit_code: int | None
    last_reason: str | None
    ready_since: datetime | None  # lastTransitionTime of the Ready condition
    grace_period_s: int | None  # spec.terminationGracePeriodSeconds

    @property
    def incarnation(self) -> int:
        return incarnation(self.uid, self.restart_count)

    @property
    def live(self) -> bool:
        """Scrapable and, when ready, queryable: as the local orchestrator's live pods."""
        return self.running and self.ip is not None

    @property
    def url(self) -> str | None:
        return f"http://{self.ip}:{self.port}" if self.live else None

    @property
    def state(self) -> PodState:
        if self.terminating:
            return PodState.TERMINATING
        if self.phase in ("Succeeded", "Failed"):
            return PodState.STOPPED
        if not self.running:
            return PodState.BACKOFF if self.waiting_reason == "CrashLoopBackOff" else PodState.PENDING
        if self.ready:
            return PodState.READY
        # The Ready condition last flipped (to false) after this container started: it was ready once.
        if self.ready_since is not None and self.started_at is not None and self.ready_since > self.started_at:
            return PodState.UNREADY
        return PodState.STARTING

    @property
    def last_restart_reason(self) -> str:
        return restart_reason(self.last_reason, self.last_exit_code)


def _container(pod: Any) -> Any | None:
    for status in (pod.status.container_statuses or []) if pod.status else []:
        if status.name == k8s.NODE_CONTAINER:
            return status
    return None


def _port(pod: Any) -> int:
    for container in (pod.spec.containers or []) if pod.spec else []:
        if container.name == k8s.NODE_CONTAINER:
            for port in container.ports or []:
                if port.name == k8s.PORT_NAME:
                    return int(port.container_port)
    return k8s.PORTS[k8s.COMPONENT_NODE]


def read_pod(pod: Any) -> EnginePod | None:
    """The engine pod of a V1Pod; None for a pod that is not an engine node (labels missing)."""
    meta = pod.metadata
    labels = dict(meta.labels or {}) if meta else {}
    if labels.get(k8s.LABEL_COMPONENT) != k8s.COMPONENT_NODE:
        return None
    try:
        engine, cluster, index = labels[k8s.LABEL_ENGINE], labels[k8s.LABEL_CLUSTER], labels[k8s.LABEL_POD_INDEX]
    except KeyError:
        return None
    status = pod.status
    container = _container(pod)
    state = container.state if container is not None else None
    last = container.last_state.terminated if container is not None and container.last_state else None
    ready_condition = next((c for c in (status.conditions or []) if c.type == "Ready"), None) if status else None
    return EnginePod(
        name=meta.name, uid=meta.uid or "", engine=engine, cluster=cluster, node=k8s.node_name(index),
        version=labels.get(k8s.LABEL_VERSION, ""), node_type=labels.get(k8s.LABEL_NODE_TYPE, ""),
        phase=(status.phase if status else None) or "Pending", ip=(status.pod_ip if status else None) or None,
        port=_port(pod), ready=bool(container is not None and container.ready),
        running=bool(state is not None and state.running is not None),
        waiting_reason=state.waiting.reason if state is not None and state.waiting is not None else None,
        terminating=meta.deletion_timestamp is not None,
        restart_count=int(container.restart_count or 0) if container is not None else 0,
        started_at=state.running.started_at if state is not None and state.running is not None else None,
        last_exit_code=last.exit_code if last is not None else None,
        last_reason=last.reason if last is not None else None,
        ready_since=ready_condition.last_transition_time if ready_condition is not None else None,
        grace_period_s=pod.spec.termination_grace_period_seconds if pod.spec else None,
    )
