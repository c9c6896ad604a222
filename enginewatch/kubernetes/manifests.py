"""The Kubernetes objects of an enginewatch deployment, built from the project's own definitions.

Nothing here is a copy: ports, labels and names come from foundation.kubernetes, job names and topology
labels from the metric contract (through enginewatch.kubernetes.scrape), scrape cadence from
foundation.deployment, the drain grace from the fleet (what the local orchestrator passes to nodes as
--grace and waits on before SIGKILL), node sizes from engines.node.config, the rules from the
generated rule files under alerts/, the dashboards from dashboards/json and the Alertmanager routing
from alerts.alertmanager.

Per engine cluster: a StatefulSet (one pod per node, ordinals from 1 so pod index i is node "n<i>")
and a PodDisruptionBudget. Then the gateway (Deployment, Service, PDB, a topology sidecar), the
engine-state exporter (job orchestrator), the SLO service, their RBAC, the PodMonitor and
ServiceMonitors, two PrometheusRules, one ConfigMap per dashboard for the Grafana sidecar, and the
Alertmanager configuration Secret.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from alerts import alertmanager
from alerts.platform import RULE_FILES
from dashboards.provisioning import COMMITTED_DIR as DASHBOARDS_DIR
from engines.gateway.gateway import GatewayConfig
from engines.node.config import MIB, NODE_TYPES
from engines.node.server import SHUTDOWN_TIMEOUT_S
from engines.orchestrator.fleet import EngineSpec, Fleet
from enginewatch.kubernetes.scrape import operator_relabelings
from foundation import kubernetes as k8s
from foundation.deployment import DASHBOARD_UIDS, cadence
from foundation.durations import format_duration
from slo.artifacts import ALERTS_DIR as SLO_RULES_DIR
from slo.artifacts import PLATFORM_PROFILES

DEFAULT_IMAGE = "ghcr.io/enginewatch/enginewatch:0.1.0"
#: The Service the Prometheus Operator puts in front of every Prometheus it runs (kube-prometheus
#: installs into "monitoring").
DEFAULT_PROMETHEUS_URL = "http://prometheus-operated.monitoring.svc:9090"
#: Placeholders: point them at the pager and the ticket queue (an overlay patches the Secret).
DEFAULT_PAGE_URL = "http://alert-receiver.enginewatch.svc:9095/page"
DEFAULT_TICKET_URL = "http://alert-receiver.enginewatch.svc:9095/ticket"
#: The operator reads an Alertmanager's configuration from the Secret "alertmanager-<its name>".
ALERTMANAGER_NAME = "enginewatch"
GRAFANA_DASHBOARD_LABEL = "grafana_dashboard"

#: Before SIGTERM, the kubelet runs the preStop hook: this long lets the gateways' topology (watched
#: through the API) drop the pod first, so no query meets the node's 503 refusal at all. The node's
#: own drain (readiness false, retriable 503s) covers whatever still arrives.
PRESTOP_S = 2
#: Python, DuckDB's buffers and HTTP on top of the query core's memory limit (the node type's).
PROCESS_OVERHEAD_BYTES = 384 * MIB
UID = 10001  # the image's unprivileged user
STORAGE_MOUNT = "/var/lib/enginewatch/storage"
TOPOLOGY_DIR = "/var/run/enginewatch"
ADMIN_TOKEN_SECRET = f"{k8s.GATEWAY_NAME}-admin"
ADMIN_TOKEN_DIR = "/etc/enginewatch/gateway-admin"
READER_ROLE = f"{k8s.APP}-engine-reader"
CHAOS_ROLE = f"{k8s.APP}-chaos"


class RenderError(ValueError):
    """Options that cannot make a working deployment (message: which option, and why)."""


@dataclass(frozen=True)
class Options:
    image: str = DEFAULT_IMAGE
    prometheus_url: str = DEFAULT_PROMETHEUS_URL
    page_url: str = DEFAULT_PAGE_URL
    ticket_url: str = DEFAULT_TICKET_URL
    #: The deployment cadence (foundation.deployment) the monitors scrape at and the rules assume.
    profile: str = "production"
    gateway_replicas: int = 2
    #: Extra labels on the PodMonitor, ServiceMonitors and PrometheusRules, for a Prometheus whose
    #: selectors want them (kube-prometheus-stack selects ``release: <its release name>``).
    monitor_labels: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        for what, url in (("--prometheus-url", self.prometheus_url), ("--page-url", self.page_url),
                          ("--ticket-url", self.ticket_url)):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise RenderError(f"{what}: {url!r} is not an http(s) URL with a host")
        if not self.image or any(c.isspace() for c in self.image):
            raise RenderError(f"--image: {self.image!r} is not an image reference")
        try:
            cadence(self.profile)
        except ValueError as e:
            raise RenderError(f"--profile: {e}") from None
        if self.gateway_replicas < 1:
            raise RenderError(f"--gateway-replicas: {self.gateway_replicas} must be at least 1")


# --- helpers -------------------------------------------------------------------------------------------

def _meta(name: str, component: str | None = None, labels: dict[str, str] | None = None,
          annotations: dict[str, str] | None = None) -> dict[str, Any]:
    all_labels = {k8s.LABEL_NAME: k8s.APP, k8s.LABEL_PART_OF: k8s.APP}
    if component is not None:
        all_labels[k8s.LABEL_COMPONENT] = component
    all_labels.update(labels or {})
    meta: dict[str, Any] = {"name": name, "labels": all_labels}
    if annotations:
        meta["annotations"] = annotations
    return meta


def _http_probe(path: str, period_s: int, timeout_s: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": k8s.PORT_NAME}, "periodSeconds": period_s,
            "timeoutSeconds": timeout_s, "failureThreshold": failures}


def _env_field(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


BIND_ENV = {"name": k8s.BIND_HOST_ENV, "value": "0.0.0.0"}
#: The root filesystem is read-only: whatever writes under $HOME (Python, DuckDB) writes to the emptyDir.
HOME_ENV = {"name": "HOME", "value": "/tmp"}
SECURITY_CONTEXT = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]}}
POD_SECURITY = {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID, "fsGroup": UID,
                "seccompProfile": {"type": "RuntimeDefault"}}
TMP_VOLUME = {"name": "tmp", "emptyDir": {}}
TMP_MOUNT = {"name": "tmp", "mountPath": "/tmp"}


def _port(component: str) -> list[dict[str, Any]]:
    return [{"name": k8s.PORT_NAME, "containerPort": k8s.PORTS[component], "protocol": "TCP"}]


def _whole_seconds(seconds: float) -> int:
    # Probe and grace fields are whole seconds; rounding up never cuts a period short.
    return max(1, math.ceil(seconds))


def termination_grace_s(fleet: Fleet) -> int:
    """preStop, then the node's drain grace, then what the local orchestrator allows before SIGKILL
    (the drain slack; at least the node's own shutdown of open connections)."""
    return _whole_seconds(PRESTOP_S + fleet.grace_period_s + max(fleet.drain_slack_s, SHUTDOWN_TIMEOUT_S))


# --- engines --------------------------------------------------------------------------------------------

def _node_resources(spec: EngineSpec) -> dict[str, Any]:
    memory = NODE_TYPES[spec.type].memory_limit_bytes + PROCESS_OVERHEAD_BYTES
    # One CPU: the query core runs DuckDB with one thread. No CPU limit: throttling a query core shows
    # up as latency, the signal the SLOs watch; the request reserves what it needs.
    return {"requests": {"cpu": "1", "memory": f"{memory // MIB}Mi"}, "limits": {"memory": f"{memory // MIB}Mi"}}


def _cluster_selector(spec: EngineSpec, cluster: str) -> dict[str, str]:
    return k8s.selector(k8s.COMPONENT_NODE, **{k8s.LABEL_ENGINE: spec.name, k8s.LABEL_CLUSTER: cluster})


def engine_statefulset(fleet: Fleet, spec: EngineSpec, cluster: str, options: Options) -> dict[str, Any]:
    selector = _cluster_selector(spec, cluster)
    pod_labels = {**selector, k8s.LABEL_PART_OF: k8s.APP, k8s.LABEL_VERSION: spec.version,
                  k8s.LABEL_NODE_TYPE: spec.type}
    probes = fleet.probes
    period = _whole_seconds(probes.period_s)  # Kubernetes' shortest period is 1 s
    timeout = _whole_seconds(probes.timeout_s)
    args = ["python", "-m", "engines.node", "--engine", spec.name, "--cluster", cluster,
            "--node", f"{k8s.NODE_PREFIX}$(POD_INDEX)", "--pod", "$(POD_NAME)", "--version", spec.version,
            "--type", spec.type, "--storage", STORAGE_MOUNT, "--port", str(k8s.PORTS[k8s.COMPONENT_NODE]),
            "--grace", format(fleet.grace_period_s, "g"), "--query-timeout", format(fleet.query_timeout_s, "g")]
    if not spec.drain:
        args.append("--no-drain")
    if spec.storage_latency_ms:
        args += ["--storage-latency-ms", format(spec.storage_latency_ms, "g")]
    container: dict[str, Any] = {
        "name": k8s.NODE_CONTAINER, "image": options.image, "args": args,
        "env": [_env_field("POD_NAME", "metadata.name"),
                _env_field("POD_INDEX", f"metadata.labels['{k8s.LABEL_POD_INDEX}']"), BIND_ENV, HOME_ENV],
        "ports": _port(k8s.COMPONENT_NODE),
        # Readiness drops within a second of SIGTERM (the node answers 503 while it drains).
        "readinessProbe": _http_probe("/readyz", period, timeout, 1),
        # A draining node still answers /healthz: liveness never kills a drain.
        "livenessProbe": _http_probe("/healthz", period, timeout, max(1, probes.failure_threshold))
        if probes.failure_threshold else None,
        "startupProbe": _http_probe("/healthz", period, timeout, _whole_seconds(probes.startup_timeout_s / period)),
        "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_S}}},
        "resources": _node_resources(spec),
        "securityContext": SECURITY_CONTEXT,
        "volumeMounts": [{"name": "storage", "mountPath": STORAGE_MOUNT, "readOnly": True}, TMP_MOUNT],
    }
    container = {k: v for k, v in container.items() if v is not None}
    storage_init = {
        # Object storage is generated once per pod, deterministically, before the node starts: the
        # startup probe then times the node, not the data generation.
        "name": "storage", "image": options.image,
        "args": ["python", "-c", "import sys; from engines.storage import ensure_storage; ensure_storage(sys.argv[1])",
                 STORAGE_MOUNT],
        "env": [HOME_ENV], "resources": _node_resources(spec), "securityContext": SECURITY_CONTEXT,
        "volumeMounts": [{"name": "storage", "mountPath": STORAGE_MOUNT}, TMP_MOUNT],
    }
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": _meta(k8s.statefulset_name(spec.name, cluster), k8s.COMPONENT_NODE,
                          {k8s.LABEL_ENGINE: spec.name, k8s.LABEL_CLUSTER: cluster, k8s.LABEL_VERSION: spec.version,
                           k8s.LABEL_NODE_TYPE: spec.type, k8s.LABEL_ACTIVE: "true"},
                          {k8s.ANNOTATION_MIN_CLUSTERS: str(spec.min_clusters),
                           k8s.ANNOTATION_MAX_CLUSTERS: str(spec.max_clusters)}),
        "spec": {
            "serviceName": k8s.NODES_SERVICE,
            "replicas": spec.nodes_per_cluster,
            "ordinals": {"start": k8s.FIRST_ORDINAL},
            # Nodes are independent stateless compute: start and replace them together, not in order.
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "RollingUpdate"},
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    # Chaos kills the node through exec: as PID 1 of its own namespace the node would
                    # ignore SIGKILL sent from inside the pod, so the pause container takes PID 1.
                    "shareProcessNamespace": True,
                    "terminationGracePeriodSeconds": termination_grace_s(fleet),
                    "enableServiceLinks": False,
                    "securityContext": POD_SECURITY,
                    "initContainers": [storage_init],
                    "containers": [container],
                    "volumes": [{"name": "storage", "emptyDir": {}}, TMP_VOLUME],
                },
            },
        },
    }


def engine_pdb(spec: EngineSpec, cluster: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": _meta(k8s.statefulset_name(spec.name, cluster), k8s.COMPONENT_NODE,
                          {k8s.LABEL_ENGINE: spec.name, k8s.LABEL_CLUSTER: cluster}),
        "spec": {
            # One node of a cluster at a time: a voluntary disruption (a node drain, an eviction by
            # chaos) never takes a whole cluster away; another cluster of the engine keeps serving.
            "maxUnavailable": 1,
            "selector": {"matchLabels": _cluster_selector(spec, cluster)},
            # A crash-looping pod is not serving anyway: it must not block a node drain.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def nodes_service() -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": _meta(k8s.NODES_SERVICE, k8s.COMPONENT_NODE),
        "spec": {"clusterIP": "None", "publishNotReadyAddresses": True,
                 "selector": k8s.selector(k8s.COMPONENT_NODE),
                 "ports": [{"name": k8s.PORT_NAME, "port": k8s.PORTS[k8s.COMPONENT_NODE],
                            "targetPort": k8s.PORT_NAME}]},
    }


def engines(fleet: Fleet, options: Options) -> list[dict[str, Any]]:
    out = [nodes_service()]
    for spec in fleet.engines:
        for i in range(1, spec.clusters + 1):
            cluster = f"c{i}"  # as the local orchestrator names an engine's clusters
            out += [engine_statefulset(fleet, spec, cluster, options), engine_pdb(spec, cluster)]
    return out


# --- gateway, engine state, SLO service --------------------------------------------------------------------

def _service(name: str, component: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": _meta(name, component),
        "spec": {"selector": k8s.selector(component),
                 "ports": [{"name": k8s.PORT_NAME, "port": k8s.PORTS[component], "targetPort": k8s.PORT_NAME}]},
    }


def _service_account(name: str, component: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, component)}


def _state_container(name: str, args: list[str], options: Options) -> dict[str, Any]:
    return {
        "name": name, "image": options.image, "args": ["python", "-m", "engines.kubernetes", *args],
        "env": [_env_field("POD_NAMESPACE", "metadata.namespace"), BIND_ENV, HOME_ENV],
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": SECURITY_CONTEXT, "volumeMounts": [TMP_MOUNT],
    }


def gateway(options: Options) -> list[dict[str, Any]]:
    deadline_s = next(f.default for f in dataclasses.fields(GatewayConfig) if f.name == "deadline_s")
    topology_mount = {"name": "topology", "mountPath": TOPOLOGY_DIR}
    sidecar = _state_container("topology", ["--state-dir", TOPOLOGY_DIR], options)
    sidecar["volumeMounts"] = [topology_mount, TMP_MOUNT]
    gw = {
        "name": "gateway", "image": options.image,
        "args": ["python", "-m", "engines.gateway", "--topology", f"{TOPOLOGY_DIR}/topology.json",
                 "--port", str(k8s.PORTS[k8s.COMPONENT_GATEWAY]), "--admin-token-file", f"{ADMIN_TOKEN_DIR}/token"],
        "env": [BIND_ENV, HOME_ENV],
        "ports": _port(k8s.COMPONENT_GATEWAY),
        "readinessProbe": _http_probe("/healthz", 1, 1, 2),
        "livenessProbe": _http_probe("/healthz", 5, 2, 3),
        "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_S}}},
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": SECURITY_CONTEXT,
        "volumeMounts": [{**topology_mount, "readOnly": True},
                         {"name": "admin-token", "mountPath": ADMIN_TOKEN_DIR, "readOnly": True}, TMP_MOUNT],
    }
    selector = k8s.selector(k8s.COMPONENT_GATEWAY)
    return [
        _service_account(k8s.GATEWAY_NAME, k8s.COMPONENT_GATEWAY),
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(k8s.GATEWAY_NAME, k8s.COMPONENT_GATEWAY),
         "spec": {
             "replicas": options.gateway_replicas,
             "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
             "selector": {"matchLabels": selector},
             "template": {"metadata": {"labels": {**selector, k8s.LABEL_PART_OF: k8s.APP}}, "spec": {
                 "serviceAccountName": k8s.GATEWAY_NAME,
                 # A request in flight may take its whole deadline, retries included.
                 "terminationGracePeriodSeconds": _whole_seconds(PRESTOP_S + deadline_s),
                 "enableServiceLinks": False,
                 "securityContext": POD_SECURITY,
                 "containers": [gw, sidecar],
                 "volumes": [{"name": "topology", "emptyDir": {}},
                             # Created by the operator of the deployment (docs/kubernetes.md): never in git.
                             {"name": "admin-token", "secret": {"secretName": ADMIN_TOKEN_SECRET}}, TMP_VOLUME],
             }},
         }},
        _service(k8s.GATEWAY_NAME, k8s.COMPONENT_GATEWAY),
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
         "metadata": _meta(k8s.GATEWAY_NAME, k8s.COMPONENT_GATEWAY),
         "spec": {"minAvailable": 1, "selector": {"matchLabels": selector}}},
    ]


def engine_state(options: Options) -> list[dict[str, Any]]:
    container = _state_container("engine-state",
                                 ["--metrics-port", str(k8s.PORTS[k8s.COMPONENT_ENGINE_STATE])], options)
    container.update({"ports": _port(k8s.COMPONENT_ENGINE_STATE),
                      "readinessProbe": _http_probe("/metrics", 5, 2, 3)})
    selector = k8s.selector(k8s.COMPONENT_ENGINE_STATE)
    reader_rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
                    {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["get", "list", "watch"]}]
    return [
        _service_account(k8s.ENGINE_STATE_NAME, k8s.COMPONENT_ENGINE_STATE),
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(READER_ROLE),
         "rules": reader_rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": _meta(READER_ROLE),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": READER_ROLE},
         "subjects": [{"kind": "ServiceAccount", "name": k8s.ENGINE_STATE_NAME},
                      {"kind": "ServiceAccount", "name": k8s.GATEWAY_NAME}]},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": _meta(k8s.ENGINE_STATE_NAME, k8s.COMPONENT_ENGINE_STATE),
         "spec": {
             # One exporter: two would count every engine twice in sums over job="orchestrator", so a
             # rollout stops the old one before the new one starts.
             "replicas": 1, "strategy": {"type": "Recreate"},
             "selector": {"matchLabels": selector},
             "template": {"metadata": {"labels": {**selector, k8s.LABEL_PART_OF: k8s.APP}}, "spec": {
                 "serviceAccountName": k8s.ENGINE_STATE_NAME, "enableServiceLinks": False,
                 "securityContext": POD_SECURITY, "containers": [container], "volumes": [TMP_VOLUME]}},
         }},
        _service(k8s.ENGINE_STATE_NAME, k8s.COMPONENT_ENGINE_STATE),
    ]


def slo_service(options: Options) -> list[dict[str, Any]]:
    selector = k8s.selector(k8s.COMPONENT_SLO_SERVICE)
    container = {
        "name": "slo-service", "image": options.image,
        "args": ["python", "-m", "slo.service", "--port", str(k8s.PORTS[k8s.COMPONENT_SLO_SERVICE]),
                 "--prometheus", options.prometheus_url],
        "env": [BIND_ENV, HOME_ENV], "ports": _port(k8s.COMPONENT_SLO_SERVICE),
        "readinessProbe": _http_probe("/healthz", 5, 2, 3), "livenessProbe": _http_probe("/healthz", 10, 2, 3),
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": SECURITY_CONTEXT, "volumeMounts": [TMP_MOUNT],
    }
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": _meta(k8s.SLO_SERVICE_NAME, k8s.COMPONENT_SLO_SERVICE),
         "spec": {"replicas": 1, "selector": {"matchLabels": selector},
                  "template": {"metadata": {"labels": {**selector, k8s.LABEL_PART_OF: k8s.APP}}, "spec": {
                      "enableServiceLinks": False, "securityContext": POD_SECURITY, "containers": [container],
                      "volumes": [TMP_VOLUME]}}}},
        _service(k8s.SLO_SERVICE_NAME, k8s.COMPONENT_SLO_SERVICE),
    ]


def chaos_rbac() -> list[dict[str, Any]]:
    """What the Kubernetes chaos backend needs, bound to no one: bind it to whoever runs game days."""
    return [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(CHAOS_ROLE),
             "rules": [
                 {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "delete"]},
                 {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
                 {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
                 {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["get", "list", "watch", "patch"]},
             ]}]


# --- monitoring --------------------------------------------------------------------------------------------

def _monitor_meta(name: str, options: Options) -> dict[str, Any]:
    return _meta(name, labels=dict(options.monitor_labels))


def monitors(options: Options) -> list[dict[str, Any]]:
    c = cadence(options.profile)
    interval, timeout = format_duration(c.scrape_interval), format_duration(c.scrape_timeout)
    out: list[dict[str, Any]] = [{
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
        "metadata": _monitor_meta(f"{k8s.APP}-engine-nodes", options),
        "spec": {"selector": {"matchLabels": k8s.selector(k8s.COMPONENT_NODE)},
                 "podMetricsEndpoints": [{"port": k8s.PORT_NAME, "path": "/metrics", "interval": interval,
                                          "scrapeTimeout": timeout,
                                          "relabelings": operator_relabelings(k8s.COMPONENT_NODE)}]},
    }]
    for name, component in ((k8s.GATEWAY_NAME, k8s.COMPONENT_GATEWAY),
                            (k8s.ENGINE_STATE_NAME, k8s.COMPONENT_ENGINE_STATE),
                            (k8s.SLO_SERVICE_NAME, k8s.COMPONENT_SLO_SERVICE)):
        out.append({
            "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": _monitor_meta(name, options),
            "spec": {"selector": {"matchLabels": k8s.selector(component)},
                     "endpoints": [{"port": k8s.PORT_NAME, "path": "/metrics", "interval": interval,
                                    "scrapeTimeout": timeout, "relabelings": operator_relabelings(component)}]},
        })
    return out


def rule_sources(profile: str) -> dict[str, Path]:
    """PrometheusRule name -> the generated rule file it carries (the profile's cadence)."""
    slo_stem = PLATFORM_PROFILES["local" if profile == "local" else None]
    return {f"{k8s.APP}-platform": RULE_FILES[profile], f"{k8s.APP}-slos": SLO_RULES_DIR / f"{slo_stem}.rules.yml"}


def prometheus_rules(options: Options) -> list[dict[str, Any]]:
    out = []
    for name, path in rule_sources(options.profile).items():
        groups = (yaml.safe_load(path.read_text()) or {}).get("groups") or []
        out.append({"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
                    "metadata": _monitor_meta(name, options), "spec": {"groups": groups}})
    return out


def dashboards() -> list[dict[str, Any]]:
    out = []
    for uid in DASHBOARD_UIDS:
        text = (DASHBOARDS_DIR / f"{uid}.json").read_text()
        json.loads(text)  # a broken file must fail here, not in Grafana's sidecar
        out.append({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": _meta(f"{k8s.APP}-dashboard-{uid.removeprefix(k8s.APP + '-')}",
                                      labels={GRAFANA_DASHBOARD_LABEL: "1"}),
                    "data": {f"{uid}.json": text}})
    return out


def alertmanager_secret(options: Options) -> dict[str, Any]:
    text = alertmanager.render(options.page_url, options.ticket_url, options.profile)
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": _meta(f"alertmanager-{ALERTMANAGER_NAME}"),
            "stringData": {"alertmanager.yaml": text}}


# --- everything ----------------------------------------------------------------------------------------------

def render(fleet: Fleet, options: Options) -> dict[str, list[dict[str, Any]]]:
    """File name (in the kustomize base) -> the objects it holds."""
    options.validate()
    return {
        "engines.yaml": engines(fleet, options),
        "gateway.yaml": gateway(options),
        "engine-state.yaml": engine_state(options),
        "slo-service.yaml": slo_service(options),
        "chaos-rbac.yaml": chaos_rbac(),
        "monitoring.yaml": monitors(options),
        "rules.yaml": prometheus_rules(options),
        "dashboards.yaml": dashboards(),
        "alertmanager.yaml": [alertmanager_secret(options)],
    }


def objects(rendered: dict[str, list[dict[str, Any]]]) -> Iterable[dict[str, Any]]:
    for docs in rendered.values():
        yield from docs
