"""Prometheus target relabeling, evaluated in the test, and the labels Kubernetes SD gives a pod.

The semantics are Prometheus 2.x's (model/relabel): source label values joined by the separator, the
regex fully anchored, ``$1``/``${name}`` expansion as Go's regexp.Expand, an empty replace result
deleting the target label; after relabeling, labels starting with ``__`` are dropped and ``instance``
defaults to ``__address__``. test_kubernetes_scrape.py checks this evaluator against the Prometheus
binary itself on the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from foundation import kubernetes as k8s

_EXPAND = re.compile(r"\$(\$|\{(\w+)\}|(\w+))")


def _expand(match: re.Match[str], template: str) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(1) == "$":
            return "$"
        name = m.group(2) or m.group(3)
        if name.isdigit():
            index = int(name)
            return (match.group(index) or "") if index <= (match.re.groups or 0) else ""
        return (match.groupdict().get(name) or "") if name in match.re.groupindex else ""

    return _EXPAND.sub(one, template)


def relabel(labels: Mapping[str, str], rules: Iterable[Mapping[str, Any]]) -> dict[str, str] | None:
    """The labels after the rules (Prometheus' spelling); None when a keep or drop rule drops the target."""
    out = dict(labels)
    for rule in rules:
        action = str(rule.get("action", "replace")).lower()
        regex = re.compile(f"^(?:{rule.get('regex', '(.*)')})$")
        value = str(rule.get("separator", ";")).join(out.get(s, "") for s in rule.get("source_labels", []))
        if action == "replace":
            m = regex.match(value)
            if m is None:
                continue
            target = _expand(m, rule["target_label"])
            result = _expand(m, str(rule.get("replacement", "$1")))
            if result:
                out[target] = result
            else:
                out.pop(target, None)
        elif action == "keep":
            if regex.match(value) is None:
                return None
        elif action == "drop":
            if regex.match(value) is not None:
                return None
        elif action == "labelmap":
            for name in list(out):
                m = regex.match(name)
                if m is not None:
                    out[_expand(m, str(rule.get("replacement", "$1")))] = out[name]
        elif action == "labeldrop":
            out = {k: v for k, v in out.items() if regex.match(k) is None}
        elif action == "labelkeep":
            out = {k: v for k, v in out.items() if regex.match(k) is not None}
        else:
            raise ValueError(f"relabel action {action!r} is not evaluated here")
    return out


def target_labels(job: str, discovered: Mapping[str, str], rules: Iterable[Mapping[str, Any]]) -> dict[str, str] | None:
    """What Prometheus stores on a target's series: job first, relabeling, then ``__`` labels dropped."""
    labels = {"job": job, "__scheme__": "http", "__metrics_path__": "/metrics", **discovered}
    out = relabel(labels, rules)
    if out is None:
        return None
    result = {k: v for k, v in out.items() if not k.startswith("__")}
    result.setdefault("instance", out["__address__"])
    return result


def _sanitize(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def pod_targets(pod: Any) -> list[dict[str, str]]:
    """The targets Prometheus' Kubernetes SD (role pod) makes of a V1Pod: one per container port."""
    meta, spec, status = pod.metadata, pod.spec, pod.status
    common = {
        "__meta_kubernetes_namespace": meta.namespace or "",
        "__meta_kubernetes_pod_name": meta.name,
        "__meta_kubernetes_pod_ip": status.pod_ip or "",
        "__meta_kubernetes_pod_uid": meta.uid or "",
        "__meta_kubernetes_pod_phase": status.phase or "",
        "__meta_kubernetes_pod_ready": "true" if any(c.type == "Ready" and c.status == "True"
                                                     for c in status.conditions or []) else "false",
        "__meta_kubernetes_pod_controller_kind": "StatefulSet",
        "__meta_kubernetes_pod_controller_name": meta.name.rsplit("-", 1)[0],
    }
    for key, value in (meta.labels or {}).items():
        common[k8s.meta_label(key)] = value
        common["__meta_kubernetes_pod_labelpresent_" + _sanitize(key)] = "true"
    targets = []
    for container in spec.containers:
        for port in container.ports or []:
            targets.append({**common, "__address__": f"{status.pod_ip}:{port.container_port}",
                            "__meta_kubernetes_pod_container_name": container.name,
                            "__meta_kubernetes_pod_container_image": container.image or "",
                            "__meta_kubernetes_pod_container_init": "false",
                            "__meta_kubernetes_pod_container_port_name": port.name or "",
                            "__meta_kubernetes_pod_container_port_number": str(port.container_port),
                            "__meta_kubernetes_pod_container_port_protocol": "TCP"})
    return targets
