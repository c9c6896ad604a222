"""Scraping on Kubernetes: relabel rules that give every series the labels it has locally.

Locally, Prometheus discovers engine nodes through file_sd target groups labelled ``engine, cluster,
node, pod, version`` (engines/orchestrator/publish.py), and scrapes the gateway, orchestrator and SLO
service as static targets (labels ``job`` and ``instance`` only; enginewatch/prometheus.py). On
Kubernetes the same label sets come from pod metadata, through one list of relabel rules rendered
twice: in Prometheus' spelling for a ``kubernetes_sd_configs`` scrape config, and in the Prometheus
Operator's spelling for PodMonitor/ServiceMonitor ``relabelings``. Rules and dashboards then see no
difference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from exporters.contract import TOPOLOGY_LABELS
from foundation import kubernetes as k8s
from foundation.deployment import cadence

#: Relabel actions this module uses (a subset of Prometheus'; the tests evaluate exactly these).
ACTIONS = ("replace", "keep", "drop", "labelmap", "labeldrop")


@dataclass(frozen=True)
class Relabel:
    """One relabel rule, with Prometheus' defaults (regex ``(.*)``, replacement ``$1``, separator ``;``)."""

    action: str = "replace"
    source_labels: tuple[str, ...] = ()
    regex: str | None = None
    target_label: str | None = None
    replacement: str | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"relabel action {self.action!r} is not one of {ACTIONS}")
        if self.action == "replace" and not self.target_label:
            raise ValueError("a replace rule needs a target_label")

    def prometheus(self) -> dict[str, Any]:
        """As in prometheus.yml (relabel_configs)."""
        return self._dump("source_labels", "target_label")

    def operator(self) -> dict[str, Any]:
        """As in a PodMonitor or ServiceMonitor (relabelings)."""
        return self._dump("sourceLabels", "targetLabel")

    def _dump(self, sources: str, target: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.source_labels:
            out[sources] = list(self.source_labels)
        if self.regex is not None:
            out["regex"] = self.regex
        if self.target_label is not None:
            out[target] = self.target_label
        if self.replacement is not None:
            out["replacement"] = self.replacement
        out["action"] = self.action
        return out


POD_NAME = "__meta_kubernetes_pod_name"
POD_PHASE = "__meta_kubernetes_pod_phase"
PORT_NAME = "__meta_kubernetes_pod_container_port_name"

# Where each topology label comes from. The node is named from the StatefulSet ordinal exactly as the
# node's own --node argument is (manifests: "n$(POD_INDEX)"), so the two never disagree.
_TOPOLOGY_SOURCES: dict[str, Relabel] = {
    "engine": Relabel(source_labels=(k8s.meta_label(k8s.LABEL_ENGINE),), target_label="engine"),
    "cluster": Relabel(source_labels=(k8s.meta_label(k8s.LABEL_CLUSTER),), target_label="cluster"),
    "node": Relabel(source_labels=(k8s.meta_label(k8s.LABEL_POD_INDEX),), regex="(.+)",
                    replacement=f"{k8s.NODE_PREFIX}$1", target_label="node"),
    "pod": Relabel(source_labels=(POD_NAME,), target_label="pod"),
    "version": Relabel(source_labels=(k8s.meta_label(k8s.LABEL_VERSION),), target_label="version"),
}


def topology_relabelings() -> tuple[Relabel, ...]:
    """The contract's topology labels from pod labels, in the contract's order (a new topology label
    without a source here fails at once)."""
    return tuple(_TOPOLOGY_SOURCES[label] for label in TOPOLOGY_LABELS)


def job_relabeling(component: str) -> Relabel:
    """The operator names jobs after the monitor object; the rules select the contract's job names."""
    return Relabel(target_label="job", replacement=k8s.JOBS[component])


def selection(component: str) -> tuple[Relabel, ...]:
    """Keep one target per running pod of the component: its ``http`` port."""
    return (
        Relabel("keep", (k8s.meta_label(k8s.LABEL_COMPONENT),), regex=component),
        Relabel("keep", (PORT_NAME,), regex=k8s.PORT_NAME),
        # Local file_sd lists live pods only; a Pending pod has no address to scrape yet.
        Relabel("keep", (POD_PHASE,), regex="Running"),
    )


#: Target labels the operator adds that a local target does not have. Dropping them before the scrape
#: also keeps the engine-state exporter's own ``pod`` label from being renamed ``exported_pod``.
OPERATOR_EXTRA_POD_LABELS = "container|endpoint|namespace"
OPERATOR_EXTRA_SERVICE_LABELS = "container|endpoint|namespace|pod|service"


def relabel_configs(component: str) -> tuple[Relabel, ...]:
    """The whole relabel_configs of a kubernetes_sd job for the component."""
    rules = selection(component)
    if component == k8s.COMPONENT_NODE:
        rules += topology_relabelings()
    return rules


def operator_relabelings(component: str) -> list[dict[str, Any]]:
    """The ``relabelings`` of the component's PodMonitor (engine nodes) or ServiceMonitor (the others)."""
    if component == k8s.COMPONENT_NODE:
        rules = (job_relabeling(component), *topology_relabelings(),
                 Relabel("labeldrop", regex=OPERATOR_EXTRA_POD_LABELS))
    else:
        rules = (job_relabeling(component), Relabel("labeldrop", regex=OPERATOR_EXTRA_SERVICE_LABELS))
    return [r.operator() for r in rules]


def scrape_job(component: str, namespace: str) -> dict[str, Any]:
    """A kubernetes_sd (role pod) job; the API server filters by component already (selectors)."""
    label = f"{k8s.LABEL_COMPONENT}={component}"
    return {
        "job_name": k8s.JOBS[component],
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [namespace]},
                                   "selectors": [{"role": "pod", "label": label}]}],
        "relabel_configs": [r.prometheus() for r in relabel_configs(component)],
    }


def render_config(namespace: str, *, profile: str = "production", rule_files: Sequence[Path | str] = (),
                  alertmanager: str | None = None, external_labels: Mapping[str, str] | None = None) -> str:
    """prometheus.yml for a Prometheus in the cluster (without the Operator) scraping one namespace.

    The same cadence as every rule's ``for:`` assumes (foundation.deployment); ``alertmanager`` is a
    ``host:port`` (e.g. a Service's DNS name).
    """
    if not k8s.is_dns_label(namespace):
        raise ValueError(f"namespace {namespace!r} is not a valid Kubernetes name (RFC 1123 label)")
    p = cadence(profile).prometheus()
    config: dict[str, Any] = {
        "global": {"scrape_interval": p["scrape_interval"], "evaluation_interval": p["evaluation_interval"],
                   "scrape_timeout": p["scrape_timeout"]},
        "rule_files": [str(f) for f in rule_files],
        "scrape_configs": [scrape_job(component, namespace) for component in k8s.JOBS],
    }
    if external_labels:
        config["global"]["external_labels"] = dict(external_labels)
    if alertmanager:
        config["alerting"] = {"alertmanagers": [{"api_version": "v2", "static_configs": [{"targets": [alertmanager]}]}]}
    return str(yaml.safe_dump(config, sort_keys=False))
