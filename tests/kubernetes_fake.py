"""A stand-in for the Kubernetes API server, in process: NOT a live cluster.

It holds the official client's own objects (V1Pod, V1StatefulSet ... built with their constructors
from the rendered manifests) and answers the calls enginewatch makes of CoreV1Api and AppsV1Api,
including watch streams in the API's wire format (JSON lines that kubernetes.watch.Watch parses) and
exec through kubernetes.stream.stream. What a controller or the kubelet would do (replace a deleted
pod, restart a killed container) it does at once, or not at all when a test says so.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client
from kubernetes.client import (
    V1ContainerState,
    V1ContainerStateRunning,
    V1ContainerStateTerminated,
    V1ContainerStatus,
    V1LabelSelector,
    V1ObjectMeta,
    V1Pod,
    V1PodCondition,
    V1PodList,
    V1PodSpec,
    V1PodStatus,
    V1PodTemplateSpec,
    V1StatefulSet,
    V1StatefulSetList,
    V1StatefulSetSpec,
    V1StatefulSetStatus,
)
from kubernetes.client.exceptions import ApiException

from foundation import kubernetes as k8s

NAMESPACE = "enginewatch"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
_uids = itertools.count(1)


def new_uid() -> str:
    return f"00000000-0000-0000-0000-{next(_uids):012d}"


def container_spec(manifest_container: dict[str, Any]) -> client.V1Container:
    ports = [client.V1ContainerPort(name=p["name"], container_port=p["containerPort"])
             for p in manifest_container.get("ports", [])]
    return client.V1Container(name=manifest_container["name"], image=manifest_container.get("image"), ports=ports)


def pod_from_statefulset(sts: dict[str, Any], index: int, ip: str, *, ready: bool = True, restarts: int = 0,
                         phase: str = "Running") -> V1Pod:
    """The pod the StatefulSet controller makes for ordinal ``index``, as the kubelet reports it running."""
    template = sts["spec"]["template"]
    name = f"{sts['metadata']['name']}-{index}"
    labels = {**template["metadata"]["labels"], k8s.LABEL_POD_INDEX: str(index),
              "statefulset.kubernetes.io/pod-name": name, "controller-revision-hash": f"{sts['metadata']['name']}-1"}
    spec = template["spec"]
    running = phase == "Running"
    status = V1PodStatus(
        phase=phase, pod_ip=ip if running else None,
        conditions=[V1PodCondition(type="Ready", status="True" if ready else "False",
                                   last_transition_time=T0 + timedelta(seconds=5 if ready else 0))],
        container_statuses=[V1ContainerStatus(
            name=k8s.NODE_CONTAINER, ready=ready and running, restart_count=restarts, image="enginewatch",
            image_id="", started=running,
            state=V1ContainerState(running=V1ContainerStateRunning(started_at=T0 + timedelta(seconds=1)))
            if running else V1ContainerState(),
        )],
    )
    return V1Pod(
        api_version="v1", kind="Pod",
        metadata=V1ObjectMeta(name=name, namespace=NAMESPACE, uid=new_uid(), labels=labels, resource_version="1"),
        spec=V1PodSpec(containers=[container_spec(c) for c in spec["containers"]],
                       termination_grace_period_seconds=spec.get("terminationGracePeriodSeconds")),
        status=status,
    )


def statefulset_object(sts: dict[str, Any], ready: int | None = None) -> V1StatefulSet:
    replicas = sts["spec"]["replicas"]
    meta = sts["metadata"]
    return V1StatefulSet(
        api_version="apps/v1", kind="StatefulSet",
        metadata=V1ObjectMeta(name=meta["name"], namespace=NAMESPACE, labels=dict(meta["labels"]),
                              annotations=dict(meta.get("annotations", {})), generation=1, uid=new_uid(),
                              resource_version="1"),
        spec=V1StatefulSetSpec(replicas=replicas, service_name=sts["spec"]["serviceName"],
                               selector=V1LabelSelector(match_labels=sts["spec"]["selector"]["matchLabels"]),
                               template=V1PodTemplateSpec(metadata=V1ObjectMeta(
                                   labels=sts["spec"]["template"]["metadata"]["labels"]))),
        status=V1StatefulSetStatus(replicas=replicas, ready_replicas=replicas if ready is None else ready,
                                   observed_generation=1, current_revision="r1", update_revision="r1",
                                   available_replicas=replicas),
    )


def serialize(obj: Any) -> dict[str, Any]:
    return client.ApiClient().sanitize_for_serialization(obj)  # type: ignore[no-any-return]


class StreamResponse:
    """What urllib3 hands kubernetes.watch.Watch: a 200 whose body is JSON lines."""

    status = 200

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines

    def stream(self, amt: Any = None, decode_content: bool = False) -> Iterator[bytes]:
        for line in self._lines:
            yield (line + "\n").encode()

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


@dataclass
class Behaviour:
    """What the stand-in's kubelet and controllers do after a call."""

    #: exec: "restart" (the node dies, the kubelet restarts the container), "none" (nothing happens)
    exec_effect: str = "restart"
    exec_pid: int = 7
    #: delete or eviction: "replace" (the controller recreates the pod under a new UID), "stuck"
    #: (terminating forever: a finalizer, a hung preStop)
    delete_effect: str = "replace"
    #: evictions answered 429 before one is allowed; -1: always
    pdb_refusals: int = 0
    retry_after: str | None = None
    exec_output: str | None = None  # overrides the exec answer


@dataclass
class Calls:
    exec: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[dict[str, Any]] = field(default_factory=list)
    evictions: list[Any] = field(default_factory=list)
    patches: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lists: int = 0
    watches: int = 0


class FakeCluster:
    """Pods and StatefulSets of one namespace, and the two API objects that serve them."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or Behaviour()
        self.calls = Calls()
        self.pods: dict[str, V1Pod] = {}
        self.statefulsets: dict[str, V1StatefulSet] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        self.watch_events: dict[str, list[Any]] = {"pods": [], "statefulsets": []}
        self.stopped: set[str] = set()  # pods whose node got SIGSTOP
        self.lock = threading.Lock()
        self._rv = itertools.count(2)
        self.core = FakeCoreV1Api(self)
        self.apps = FakeAppsV1Api(self)

    def add_statefulset(self, sts: dict[str, Any], ip_base: str = "127.0.0", ready: bool = True) -> list[V1Pod]:
        self.templates[sts["metadata"]["name"]] = sts
        self.statefulsets[sts["metadata"]["name"]] = statefulset_object(sts)
        pods = []
        for i in range(k8s.FIRST_ORDINAL, k8s.FIRST_ORDINAL + sts["spec"]["replicas"]):
            pod = pod_from_statefulset(sts, i, f"{ip_base}.{len(self.pods) + 2}", ready=ready)
            self.pods[pod.metadata.name] = pod
            pods.append(pod)
        return pods

    def resource_version(self) -> str:
        return str(next(self._rv))

    # --- what the kubelet and the StatefulSet controller do ----------------------------------------------

    def restart_container(self, name: str, exit_code: int = 137, reason: str = "Error") -> None:
        status = self.pods[name].status.container_statuses[0]
        status.last_state = V1ContainerState(terminated=V1ContainerStateTerminated(
            exit_code=exit_code, reason=reason, started_at=T0, finished_at=T0 + timedelta(seconds=60)))
        status.restart_count += 1
        status.state = V1ContainerState(running=V1ContainerStateRunning(started_at=T0 + timedelta(seconds=61)))
        self.pods[name].metadata.resource_version = self.resource_version()

    def replace_pod(self, name: str) -> V1Pod:
        old = self.pods[name]
        sts = self.templates[old.metadata.labels["statefulset.kubernetes.io/pod-name"].rsplit("-", 1)[0]]
        index = int(old.metadata.labels[k8s.LABEL_POD_INDEX])
        new = pod_from_statefulset(sts, index, old.status.pod_ip or "127.0.0.99")
        self.pods[name] = new
        return new

    def mark_terminating(self, name: str) -> None:
        self.pods[name].metadata.deletion_timestamp = T0 + timedelta(seconds=100)


class FakeCoreV1Api:
    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        # kubernetes.stream.stream swaps call_api on the method's api_client for its websocket call.
        self.api_client = type("ApiClient", (), {"configuration": client.Configuration(), "call_api": None})()

    def list_namespaced_pod(self, namespace: str, **kwargs: Any) -> V1PodList:
        """List or watch pods.

        :return: V1PodList
        :rtype: V1PodList
        """
        c = self.cluster
        assert namespace == NAMESPACE
        if kwargs.get("watch"):
            c.calls.watches += 1
            events, c.watch_events["pods"] = c.watch_events["pods"], []
            return StreamResponse(events)  # type: ignore[return-value]
        c.calls.lists += 1
        selector = dict(kv.split("=", 1) for kv in (kwargs.get("label_selector") or "").split(",") if kv)
        items = [p for p in c.pods.values() if all(p.metadata.labels.get(k) == v for k, v in selector.items())]
        return V1PodList(items=items, metadata=client.V1ListMeta(resource_version=c.resource_version()))

    def connect_get_namespaced_pod_exec(self, name: str, namespace: str, **kwargs: Any) -> str:
        c = self.cluster
        c.calls.exec.append({"pod": name, **kwargs})
        if name not in c.pods:
            raise ApiException(status=404, reason="Not Found")
        command = kwargs["command"]
        if c.behaviour.exec_output is not None:
            return c.behaviour.exec_output
        if "enginewatch-stat" in command[2]:
            return f"enginewatch-stat {'T' if name in c.stopped else 'S'}\n"
        sig = command[-1]
        if c.behaviour.exec_effect == "restart":
            if sig == "KILL":
                c.restart_container(name)
            elif sig == "STOP":
                c.stopped.add(name)
            elif sig == "CONT":
                c.stopped.discard(name)
        return f"enginewatch-signal pid={c.behaviour.exec_pid} sig={sig}\n"

    def delete_namespaced_pod(self, name: str, namespace: str, **kwargs: Any) -> Any:
        c = self.cluster
        c.calls.deletes.append({"pod": name, **kwargs})
        return self._disrupt(name, kwargs["body"].preconditions.uid)

    def create_namespaced_pod_eviction(self, name: str, namespace: str, body: Any) -> Any:
        c = self.cluster
        c.calls.evictions.append(body)
        refusals = c.behaviour.pdb_refusals
        if refusals != 0:
            c.behaviour.pdb_refusals = refusals - 1 if refusals > 0 else refusals
            e = ApiException(status=429, reason="Too Many Requests")
            e.body = json.dumps({"kind": "Status", "status": "Failure", "reason": "TooManyRequests", "code": 429,
                                 "message": "Cannot evict pod as it would violate the pod's disruption budget."})
            e.headers = {"Retry-After": c.behaviour.retry_after} if c.behaviour.retry_after else {}
            raise e
        return self._disrupt(name, body.delete_options.preconditions.uid)

    def _disrupt(self, name: str, uid: str | None) -> Any:
        c = self.cluster
        if name not in c.pods:
            raise ApiException(status=404, reason="Not Found")
        if uid is not None and c.pods[name].metadata.uid != uid:
            raise ApiException(status=409, reason="Conflict")
        if c.behaviour.delete_effect == "replace":
            c.replace_pod(name)
        else:
            c.mark_terminating(name)
        return client.V1Status(status="Success")


class FakeAppsV1Api:
    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster

    def list_namespaced_stateful_set(self, namespace: str, **kwargs: Any) -> V1StatefulSetList:
        """List or watch StatefulSets.

        :return: V1StatefulSetList
        :rtype: V1StatefulSetList
        """
        c = self.cluster
        if kwargs.get("watch"):
            c.calls.watches += 1
            events, c.watch_events["statefulsets"] = c.watch_events["statefulsets"], []
            return StreamResponse(events)  # type: ignore[return-value]
        c.calls.lists += 1
        return V1StatefulSetList(items=list(c.statefulsets.values()),
                                 metadata=client.V1ListMeta(resource_version=c.resource_version()))

    def patch_namespaced_stateful_set(self, name: str, namespace: str, body: dict[str, Any]) -> Any:
        c = self.cluster
        c.calls.patches.append((name, body))
        sts = c.statefulsets[name]
        sts.metadata.labels.update(body.get("metadata", {}).get("labels", {}))
        return sts


def watch_line(event_type: str, obj: Any) -> str:
    """One event of a watch stream as the API server writes it."""
    return json.dumps({"type": event_type, "object": serialize(obj)})


def gone_line() -> str:
    return json.dumps({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                                   "message": "too old resource version", "reason": "Expired",
                                                   "code": 410}})
