"""How enginewatch names things on Kubernetes: the pod labels that carry the topology, ports, object names.

Defined once for the four places that must agree: the manifests (enginewatch/kubernetes renders them),
the engine-state source that reads StatefulSets and pods back (engines/kubernetes), the Prometheus
relabeling that turns pod labels into the contract's topology labels, and the chaos backend. No
Kubernetes client is imported here: these are names, not calls.
"""

from __future__ import annotations

import re

from exporters.contract import JOB_GATEWAY, JOB_NODE, JOB_ORCHESTRATOR, JOB_SLO_SERVICE

APP = "enginewatch"

# --- labels ------------------------------------------------------------------------------------------

LABEL_NAME = "app.kubernetes.io/name"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_ENGINE = "enginewatch.io/engine"
LABEL_CLUSTER = "enginewatch.io/cluster"
LABEL_VERSION = "enginewatch.io/version"
LABEL_NODE_TYPE = "enginewatch.io/node-type"
#: On a StatefulSet's own metadata, never its pod template: switching the gateway's active clusters is a
#: label patch, and a template change would roll every pod of the cluster.
LABEL_ACTIVE = "enginewatch.io/active"
#: Set on every pod by the StatefulSet controller (Kubernetes >= 1.28): the ordinal, which names the node.
LABEL_POD_INDEX = "apps.kubernetes.io/pod-index"

ANNOTATION_MIN_CLUSTERS = "enginewatch.io/min-clusters"
ANNOTATION_MAX_CLUSTERS = "enginewatch.io/max-clusters"

# --- components: the value of LABEL_COMPONENT, and the Prometheus job each one is scraped as ------------

COMPONENT_NODE = "engine-node"
COMPONENT_GATEWAY = "gateway"
#: The engine-state exporter plays the local orchestrator's part for metrics: its job keeps that name,
#: so every rule selecting job="orchestrator" works unchanged.
COMPONENT_ENGINE_STATE = "engine-state"
COMPONENT_SLO_SERVICE = "slo-service"
JOBS: dict[str, str] = {
    COMPONENT_NODE: JOB_NODE,
    COMPONENT_GATEWAY: JOB_GATEWAY,
    COMPONENT_ENGINE_STATE: JOB_ORCHESTRATOR,
    COMPONENT_SLO_SERVICE: JOB_SLO_SERVICE,
}

# --- ports and containers ------------------------------------------------------------------------------

#: Every component serves its API and /metrics on one port of this name.
PORT_NAME = "http"
PORTS: dict[str, int] = {
    COMPONENT_NODE: 8080,
    COMPONENT_GATEWAY: 8080,
    COMPONENT_ENGINE_STATE: 9100,
    COMPONENT_SLO_SERVICE: 8080,
}
NODE_CONTAINER = "node"

#: Where our servers listen (foundation.process.bind_socket). Loopback by default; a pod sets 0.0.0.0
#: because its peers (Prometheus, the gateway, the kubelet's probes) reach it at the pod IP.
BIND_HOST_ENV = "ENGINEWATCH_BIND_HOST"

# --- names ------------------------------------------------------------------------------------------------

#: StatefulSet ordinals start here (spec.ordinals.start), so that pod index i is node "n<i>", as the
#: local orchestrator names its nodes n1, n2 ...
FIRST_ORDINAL = 1
NODE_PREFIX = "n"
#: The headless Service that governs every engine StatefulSet (spec.serviceName).
NODES_SERVICE = f"{APP}-nodes"
GATEWAY_NAME = f"{APP}-gateway"
ENGINE_STATE_NAME = f"{APP}-engine-state"
SLO_SERVICE_NAME = f"{APP}-slo-service"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def node_name(index: int | str) -> str:
    return f"{NODE_PREFIX}{index}"


def statefulset_name(engine: str, cluster: str) -> str:
    return f"{engine}-{cluster}"


def pod_name(engine: str, cluster: str, index: int) -> str:
    """The StatefulSet controller's name for the pod of that ordinal."""
    return f"{statefulset_name(engine, cluster)}-{index}"


def is_dns_label(name: str) -> bool:
    """A valid namespace or Service name (RFC 1123 label)."""
    return bool(_DNS_LABEL.match(name))


def selector(component: str, **more: str) -> dict[str, str]:
    """The labels that select a component's pods (and match its controllers' selectors)."""
    if component not in JOBS:
        raise ValueError(f"unknown component {component!r}; known: {', '.join(JOBS)}")
    return {LABEL_NAME: APP, LABEL_COMPONENT: component, **more}


def selector_string(labels: dict[str, str]) -> str:
    """``k=v,k2=v2``: the label selector of list and watch calls."""
    return ",".join(f"{k}={v}" for k, v in labels.items())


def meta_label(pod_label: str) -> str:
    """The label Prometheus' Kubernetes SD (role pod) gives a pod label: ``__meta_kubernetes_pod_label_<name>``,
    every character outside ``[a-zA-Z0-9_]`` replaced by ``_``."""
    return "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", pod_label)
