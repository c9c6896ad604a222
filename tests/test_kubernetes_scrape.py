"""Scraping on Kubernetes gives every series the labels it has locally, so rules and dashboards hold.

Pod metadata comes from pods the StatefulSet controller would make of the rendered manifests (built
with the official client's objects; no cluster). The relabel rules are evaluated in the test
(tests/kubernetes_relabel.py), checked against the Prometheus binary itself, and the scrape
configuration is checked by promtool.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import yaml

from engines.kubernetes import KubernetesState
from engines.orchestrator import DEFAULT_FLEET, load_fleet
from engines.orchestrator.publish import file_sd_groups
from enginewatch.binary_server import BinaryServer
from enginewatch.kubernetes.manifests import Options, engines, monitors, rule_sources
from enginewatch.kubernetes.scrape import relabel_configs, render_config, scrape_job
from enginewatch.prometheus import locate
from exporters.contract import JOB_NODE, TOPOLOGY_LABELS
from foundation import kubernetes as k8s
from foundation.process import free_port
from foundation.promtool import check_config
from tests.kubernetes_fake import NAMESPACE, FakeCluster, pod_from_statefulset
from tests.kubernetes_relabel import pod_targets, relabel, target_labels


@pytest.fixture(scope="module")
def cluster() -> FakeCluster:
    c = FakeCluster()
    for sts in (o for o in engines(load_fleet(DEFAULT_FLEET), Options()) if o["kind"] == "StatefulSet"):
        c.add_statefulset(sts)
    return c


def _rules(component: str) -> list[dict]:
    return [r.prometheus() for r in relabel_configs(component)]


def _node_targets(cluster: FakeCluster) -> dict[str, dict[str, str]]:
    out = {}
    for pod in cluster.pods.values():
        for discovered in pod_targets(pod):
            labels = target_labels(JOB_NODE, discovered, _rules(k8s.COMPONENT_NODE))
            if labels is not None:
                out[pod.metadata.name] = labels
    return out


def test_relabeling_gives_exactly_the_labels_file_sd_gives_locally(cluster: FakeCluster) -> None:
    # What the local platform's file_sd writes for these very pods, through the orchestrator's own code.
    state = KubernetesState(cluster.core, cluster.apps, NAMESPACE)
    state.refresh()
    file_sd = {g["labels"]["pod"]: g["labels"] for g in file_sd_groups(state.snapshot())}
    targets = _node_targets(cluster)
    assert set(targets) == set(file_sd) == set(cluster.pods)
    for pod, labels in targets.items():
        assert set(labels) == {"job", "instance", *TOPOLOGY_LABELS}
        assert {k: v for k, v in labels.items() if k not in ("job", "instance")} == file_sd[pod]
        assert labels["job"] == JOB_NODE
        assert labels["instance"] == f"{cluster.pods[pod].status.pod_ip}:8080"


def test_the_topology_is_the_local_fleet_s_names(cluster: FakeCluster) -> None:
    # The same fleet run locally: engines, clusters c1.., nodes n1.. and versions are the same values;
    # only the pod label differs, as pod names do (the StatefulSet controller names pods).
    fleet = load_fleet(DEFAULT_FLEET)
    local = {(s.name, f"c{c}", f"n{n}", s.version) for s in fleet.engines for c in range(1, s.clusters + 1)
             for n in range(1, s.nodes_per_cluster + 1)}
    got = {(t["engine"], t["cluster"], t["node"], t["version"]) for t in _node_targets(cluster).values()}
    assert got == local


def test_other_ports_other_components_and_pods_not_running_are_not_targets(cluster: FakeCluster) -> None:
    sts = next(o for o in engines(load_fleet(DEFAULT_FLEET), Options()) if o["kind"] == "StatefulSet")
    pending = pod_from_statefulset(sts, 1, "127.0.0.50", phase="Pending")
    pending.status.pod_ip = "127.0.0.50"  # scheduled, not running yet
    assert all(target_labels(JOB_NODE, t, _rules(k8s.COMPONENT_NODE)) is None for t in pod_targets(pending))
    running = pod_from_statefulset(sts, 1, "127.0.0.51")
    (target,) = pod_targets(running)
    assert target_labels(JOB_NODE, {**target, "__meta_kubernetes_pod_container_port_name": "debug"},
                         _rules(k8s.COMPONENT_NODE)) is None
    assert target_labels("gateway", target, _rules(k8s.COMPONENT_GATEWAY)) is None


def test_the_other_components_get_only_job_and_instance_as_their_static_local_targets(cluster: FakeCluster) -> None:
    sts = next(o for o in engines(load_fleet(DEFAULT_FLEET), Options()) if o["kind"] == "StatefulSet")
    pod = pod_from_statefulset(sts, 1, "127.0.0.60")
    for component in (k8s.COMPONENT_GATEWAY, k8s.COMPONENT_ENGINE_STATE, k8s.COMPONENT_SLO_SERVICE):
        pod.metadata.labels = k8s.selector(component)
        (target,) = pod_targets(pod)
        labels = target_labels(k8s.JOBS[component], target, _rules(component))
        assert labels == {"job": k8s.JOBS[component], "instance": "127.0.0.60:8080"}


def _operator_podmonitor_prefix(monitor: dict, namespace: str) -> list[dict]:
    """The relabelings the Prometheus Operator puts before a PodMonitor's own, in its order
    (GeneratePodMonitorConfig in pkg/prometheus/promcfg.go, commit aa8222d7): phase filter, selection by
    labels (sorted keys) and port, then namespace, container, pod, job and endpoint."""
    endpoint = monitor["spec"]["podMetricsEndpoints"][0]
    rules: list[dict] = [
        {"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"},
        {"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)"},
    ]
    for key, value in sorted(monitor["spec"]["selector"]["matchLabels"].items()):
        sanitized = k8s.meta_label(key).removeprefix("__meta_kubernetes_pod_label_")
        rules.append({"action": "keep", "source_labels": [k8s.meta_label(key),
                                                          f"__meta_kubernetes_pod_labelpresent_{sanitized}"],
                      "regex": f"({value});true"})
    rules += [
        {"action": "keep", "source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": endpoint["port"]},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"target_label": "job", "replacement": f"{namespace}/{monitor['metadata']['name']}"},
        {"target_label": "endpoint", "replacement": endpoint["port"]},
    ]
    return rules


def _as_prometheus(rule: dict) -> dict:
    return {{"sourceLabels": "source_labels", "targetLabel": "target_label"}.get(k, k): v for k, v in rule.items()}


def test_the_podmonitor_gives_the_same_labels_through_the_operator(cluster: FakeCluster) -> None:
    monitor = next(m for m in monitors(Options()) if m["kind"] == "PodMonitor")
    rules = _operator_podmonitor_prefix(monitor, NAMESPACE) + [
        _as_prometheus(r) for r in monitor["spec"]["podMetricsEndpoints"][0]["relabelings"]]
    direct = _node_targets(cluster)
    for pod in cluster.pods.values():
        (target,) = pod_targets(pod)
        via_operator = target_labels(f"podMonitor/{NAMESPACE}/{monitor['metadata']['name']}/0", target, rules)
        assert via_operator == direct[pod.metadata.name]


def test_the_servicemonitors_give_job_and_instance_only() -> None:
    for monitor in (m for m in monitors(Options()) if m["kind"] == "ServiceMonitor"):
        component = monitor["spec"]["selector"]["matchLabels"][k8s.LABEL_COMPONENT]
        # What the operator has set by the time the monitor's own relabelings run (role endpoints).
        discovered = {"__address__": "127.0.0.70:8080", "namespace": NAMESPACE, "service": monitor["metadata"]["name"],
                      "pod": f"{monitor['metadata']['name']}-abc", "container": component, "endpoint": "http"}
        rules = [_as_prometheus(r) for r in monitor["spec"]["endpoints"][0]["relabelings"]]
        labels = target_labels(monitor["metadata"]["name"], discovered, rules)
        assert labels == {"job": k8s.JOBS[component], "instance": "127.0.0.70:8080"}


def _promtool_knows_kubernetes_sd(tmp_path: Path) -> bool:
    probe = tmp_path / "probe.yml"
    job = {"job_name": "probe", "kubernetes_sd_configs": [{"role": "pod"}]}
    probe.write_text(yaml.safe_dump({"scrape_configs": [job]}))
    return check_config(probe).ok


def _with_file_sd(doc: dict, tmp_path: Path) -> dict:
    """The same configuration with each job's discovery swapped for file_sd: everything else (the relabel
    rules above all) stays for promtool to check."""
    out = json.loads(json.dumps(doc))
    for job in out["scrape_configs"]:
        sd = job.pop("kubernetes_sd_configs")
        assert sd[0]["role"] == "pod" and sd[0]["namespaces"] == {"names": [NAMESPACE]}
        assert set(sd[0]) == {"role", "namespaces", "selectors"}
        assert all(set(s) == {"role", "label"} and s["role"] == "pod" for s in sd[0]["selectors"])
        job["file_sd_configs"] = [{"files": [str(tmp_path / "targets.json")]}]
    return out


def _rendered(tmp_path: Path) -> dict:
    rule_files = [str(p) for p in rule_sources("production").values()]
    return yaml.safe_load(render_config(NAMESPACE, rule_files=rule_files, alertmanager="alertmanager-operated:9093"))


def test_promtool_checks_the_scrape_configuration_and_its_relabel_rules(tmp_path: Path) -> None:
    doc = _rendered(tmp_path)
    assert [j["job_name"] for j in doc["scrape_configs"]] == list(k8s.JOBS.values())
    assert doc["global"]["scrape_interval"] == "15s"
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(_with_file_sd(doc, tmp_path)))
    result = check_config(config)
    assert result.ok, result.output
    # A broken rule is caught by the same check: the check does look at them.
    broken = _with_file_sd(doc, tmp_path)
    broken["scrape_configs"][0]["relabel_configs"][0]["regex"] = "(unclosed"
    config.write_text(yaml.safe_dump(broken))
    assert not check_config(config).ok


def test_promtool_checks_the_kubernetes_sd_configuration(tmp_path: Path) -> None:
    if not _promtool_knows_kubernetes_sd(tmp_path):
        pytest.skip("this promtool is built without Kubernetes service discovery (Debian's prometheus 2.42.0+ds "
                    "leaves it out); the relabel rules are checked through file_sd above")
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(_rendered(tmp_path)))
    result = check_config(config)
    assert result.ok, result.output


def test_the_committed_prometheus_yml_is_the_rendered_one(tmp_path: Path) -> None:
    committed = Path(__file__).resolve().parents[1] / "deploy/kubernetes/prometheus/prometheus.yml"
    doc = yaml.safe_load(committed.read_text())
    assert doc["rule_files"] == [f"/etc/prometheus/rules/{p.name}" for p in rule_sources("production").values()]
    doc["rule_files"] = [str(p) for p in rule_sources("production").values()]
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(_with_file_sd(doc, tmp_path)))
    assert check_config(config).ok


def test_bad_namespaces_are_refused() -> None:
    with pytest.raises(ValueError, match="namespace 'Not_A_Name' is not a valid Kubernetes name"):
        render_config("Not_A_Name")


class _RelabelPrometheus(BinaryServer):
    """Prometheus with a file_sd job whose targets carry the meta labels Kubernetes SD would attach."""

    name = "prometheus"

    def __init__(self, tmp: Path, rules: list[dict], targets: list[dict[str, str]]) -> None:
        super().__init__(locate("prometheus"), tmp / "prometheus.log")
        self.tmp, self.rules, self.targets = tmp, rules, targets

    def prepare(self) -> None:
        groups = [{"targets": [t["__address__"]], "labels": {k: v for k, v in t.items() if k != "__address__"}}
                  for t in self.targets]
        (self.tmp / "targets.json").write_text(json.dumps(groups))
        (self.tmp / "prometheus.yml").write_text(yaml.safe_dump({
            # An hour between scrapes: the targets are closed loopback ports; only discovery matters.
            "global": {"scrape_interval": "1h", "scrape_timeout": "1s"},
            "scrape_configs": [{"job_name": JOB_NODE, "file_sd_configs": [{"files": [str(self.tmp / "targets.json")]}],
                                "relabel_configs": self.rules}]}))

    def argv(self) -> list[str]:
        return [str(self.binary), f"--config.file={self.tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.tmp / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}"]


@pytest.mark.live
@pytest.mark.timeout(60)
def test_prometheus_itself_relabels_the_pod_metadata_as_the_test_does(cluster: FakeCluster, tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there: a scrape, if one happened, would stay on loopback
    targets, expected = [], {}
    sts = next(o for o in engines(load_fleet(DEFAULT_FLEET), Options()) if o["kind"] == "StatefulSet")
    extra = [pod_from_statefulset(sts, 3, "127.0.0.1", phase="Pending")]
    for i, pod in enumerate([*cluster.pods.values(), *extra]):
        for t in pod_targets(pod):
            t = {**t, "__address__": f"127.0.0.1:{closed}", "__meta_kubernetes_pod_ip": f"127.0.0.{i + 2}",
                 "__meta_enginewatch_case": str(i)}  # one target per pod, told apart by this label
            targets.append(t)
            expected[str(i)] = target_labels(JOB_NODE, t, _rules(k8s.COMPONENT_NODE))
    with _RelabelPrometheus(tmp_path, _rules(k8s.COMPONENT_NODE), targets) as prom:
        deadline = time.monotonic() + 30
        while True:
            data = httpx.get(f"{prom.url}/api/v1/targets", timeout=5).json()["data"]
            active, dropped = data["activeTargets"], data["droppedTargets"]
            if len(active) + len(dropped) == len(targets) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    got = {t["discoveredLabels"]["__meta_enginewatch_case"]: t["labels"] for t in active}
    assert {case: labels for case, labels in expected.items() if labels is not None} == got
    assert sorted(t["discoveredLabels"]["__meta_enginewatch_case"] for t in dropped) == sorted(
        case for case, labels in expected.items() if labels is None)
    assert len(got) == len(cluster.pods)


def test_the_relabel_evaluator_expands_like_go(cluster: FakeCluster) -> None:
    labels = relabel({"a": "x", "b": "y"}, [
        {"source_labels": ["a", "b"], "regex": "(.*);(.*)", "replacement": "${2}-$1", "target_label": "c"},
        {"source_labels": ["a"], "regex": "(.*)", "replacement": "$1x", "target_label": "d"},  # $1x is group "1x"
        {"source_labels": ["nope"], "target_label": "a"},  # empty result deletes the label
    ])
    assert labels == {"b": "y", "c": "y-x"}
    assert scrape_job(k8s.COMPONENT_NODE, NAMESPACE)["kubernetes_sd_configs"][0]["selectors"] == [
        {"role": "pod", "label": f"{k8s.LABEL_COMPONENT}={k8s.COMPONENT_NODE}"}]
