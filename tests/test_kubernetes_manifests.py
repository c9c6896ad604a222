"""deploy/kubernetes: current, buildable by kustomize, and valid against the published schemas.

Every object `kubectl kustomize` builds from the base and the overlays is validated against the
Kubernetes 1.30 JSON schemas (strict: unknown fields are errors) or the Prometheus Operator's CRD
schemas, kept under tests/fixtures/kubernetes with their source (SOURCES.md there). The rules carried
by the PrometheusRules pass promtool, check and unit tests; the Alertmanager Secret passes amtool. No
cluster is involved: nothing here is applied to an API server.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

from alerts.unittests import TEST_FILES
from dashboards.provisioning import COMMITTED_DIR
from engines.orchestrator import DEFAULT_FLEET, load_fleet
from enginewatch.kubernetes import kustomize
from enginewatch.kubernetes.manifests import PRESTOP_S, Options, RenderError, render, rule_sources, termination_grace_s
from enginewatch.kubernetes.scrape import topology_relabelings
from foundation import kubernetes as k8s
from foundation.deployment import DASHBOARD_UIDS
from foundation.promtool import check_alertmanager_config, check_rules
from foundation.promtool import test_rules as promtool_test_rules
from slo.artifacts import ALERTS_DIR as SLO_DIR

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "kubernetes"
SCHEMAS = FIXTURES / "schemas" / "kubernetes-v1.30.0-strict"
BUILDS = ("base", "overlays/dev", "overlays/production")
OBJECT_META = "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


# --- schemas ---------------------------------------------------------------------------------------------

@cache
def _definitions() -> dict[str, Any]:
    return json.loads((SCHEMAS / "_definitions.json").read_text())


def _registry(*schemas: dict[str, Any]) -> Registry:
    resources = [(d["$id"], Resource.from_contents(d)) for d in (_definitions(), *schemas)]
    return Registry().with_resources(resources)


def _kind_file(obj: dict[str, Any]) -> str:
    # kubernetes-validate's naming: rbac.authorization.k8s.io/v1 -> rbac-v1, v1 -> v1
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", obj["apiVersion"])
    return f"{obj['kind'].lower()}-{api}.json"


def _strict(schema: Any) -> Any:
    """The API server's strict field validation on a CRD schema: unknown fields are errors."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out \
                and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        if isinstance(out.get("pattern"), str):
            # RE2 takes inline flags anywhere (^(?i)...); Python wants them first.
            flags = "".join(re.findall(r"\(\?[a-z]+\)", out["pattern"]))
            out["pattern"] = flags + re.sub(r"\(\?[a-z]+\)", "", out["pattern"])
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def _crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for path in sorted((FIXTURES / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
            schema["properties"]["metadata"] = {"$ref": OBJECT_META}
            out[(f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])] = schema
    return out


def validation_errors(obj: dict[str, Any]) -> list[str]:
    """Schema errors of one object, as ``Kind/name: path: message``; unknown kinds are errors too."""
    where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
    crd = _crd_schemas().get((obj.get("apiVersion", ""), obj.get("kind", "")))
    if crd is not None:
        validator: Any = jsonschema.Draft7Validator(crd, registry=_registry())
    else:
        path = SCHEMAS / _kind_file(obj)
        if not path.is_file():
            return [f"{where}: no schema for {obj.get('apiVersion')} {obj.get('kind')} in the fixtures"]
        schema = json.loads(path.read_text())
        validator = jsonschema.Draft202012Validator(schema, registry=_registry(schema))
    return [f"{where}: {'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))]


# --- kustomize ------------------------------------------------------------------------------------------------

def _kubectl() -> str:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl not found: `make debs` installs the Debian package kubernetes-client"
    version = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True, timeout=60).stdout
    found = re.search(r"Kustomize Version: v(\d+)", version)
    assert found and int(found.group(1)) >= 4, (
        f"{kubectl} embeds no kustomize v4+ ({version.strip()!r}): the overlays use `resources: [../../base]` "
        "and `patches`, which kubectl >= 1.21 builds")
    return kubectl


@cache
def build(directory: str) -> tuple[dict[str, Any], ...]:
    done = subprocess.run([_kubectl(), "kustomize", str(kustomize.DEFAULT_OUT / directory)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr  # nothing deprecated
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


def _of(objs: tuple[dict[str, Any], ...], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


# --- tests --------------------------------------------------------------------------------------------------------

def test_the_committed_manifests_are_what_the_sources_render() -> None:
    stale = kustomize.stale()
    assert not stale, f"stale: {[str(p.relative_to(REPO)) for p in stale]}; run `enginewatch kubernetes render`"


@pytest.mark.parametrize("directory", BUILDS)
def test_kustomize_builds_and_every_object_is_valid_against_the_published_schemas(directory: str) -> None:
    objs = build(directory)
    kinds = {o["kind"] for o in objs}
    assert {"StatefulSet", "PodDisruptionBudget", "Deployment", "Service", "PodMonitor", "ServiceMonitor",
            "PrometheusRule", "ConfigMap", "Secret", "Role", "RoleBinding", "ServiceAccount"} <= kinds
    errors = [e for o in objs for e in validation_errors(o)]
    assert errors == []


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda o: o["spec"].update(replica=2), "Additional properties are not allowed ('replica' was unexpected)"),
    (lambda o: o["spec"]["template"]["spec"].update(terminationGracePeriodSeconds="17"), "is not of type 'integer'"),
    (lambda o: o["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"].update(sleep={}),
     "'seconds' is a required property"),
])
def test_the_kubernetes_schemas_catch_mistakes(mutate: Any, expected: str) -> None:
    sts = copy.deepcopy(_of(build("base"), "StatefulSet")[0])
    mutate(sts)
    assert any(expected in e for e in validation_errors(sts)), validation_errors(sts)


@pytest.mark.parametrize(("kind", "mutate", "expected"), [
    ("PodMonitor", lambda o: o["spec"]["podMetricsEndpoints"][0].update(intervall="15s"), "'intervall' was unexpected"),
    ("PodMonitor", lambda o: o["spec"]["podMetricsEndpoints"][0].update(interval="15 seconds"), "does not match"),
    ("PodMonitor", lambda o: o["spec"]["podMetricsEndpoints"][0]["relabelings"][0].update(action="rename"),
     "is not one of"),
    ("ServiceMonitor", lambda o: o["spec"].pop("endpoints"), "'endpoints' is a required property"),
    ("ServiceMonitor", lambda o: o["spec"]["endpoints"][0]["relabelings"][0].update(sourceLabels=["a.b"]),
     "does not match"),
    ("PrometheusRule", lambda o: o["spec"]["groups"][0]["rules"][0].pop("expr"), "'expr' is a required property"),
    ("PrometheusRule", lambda o: o["metadata"].update(labels={"a": 1}), "is not of type 'string'"),
])
def test_the_crd_schemas_catch_mistakes(kind: str, mutate: Any, expected: str) -> None:
    obj = copy.deepcopy(_of(build("base"), kind)[0])
    assert validation_errors(obj) == []
    mutate(obj)
    assert any(expected in e for e in validation_errors(obj)), validation_errors(obj)


_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                         r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


@pytest.mark.parametrize("directory", BUILDS)
def test_names_and_labels_are_what_the_api_server_accepts(directory: str) -> None:
    # What the JSON schemas cannot say: RFC 1123 names, label syntax and lengths.
    for obj in build(directory):
        meta = obj["metadata"]
        assert len(meta["name"]) <= 63 and k8s.is_dns_label(meta["name"]), meta["name"]
        labels = dict(meta.get("labels", {}))
        labels.update(obj.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {}))
        for key, value in labels.items():
            assert _LABEL_NAME.match(key) and len(key.rsplit("/", 1)[-1]) <= 63, key
            assert _LABEL_VALUE.match(value) and len(value) <= 63, (key, value)


def test_engine_pods_drain_as_the_node_does() -> None:
    fleet = load_fleet(DEFAULT_FLEET)
    objs = build("base")
    pdbs = {p["metadata"]["name"]: p for p in _of(objs, "PodDisruptionBudget")}
    sets = _of(objs, "StatefulSet")
    assert sorted(s["metadata"]["name"] for s in sets) == sorted(
        k8s.statefulset_name(e.name, f"c{i}") for e in fleet.engines for i in range(1, e.clusters + 1))
    grace = PRESTOP_S + fleet.grace_period_s + fleet.drain_slack_s
    for sts in sets:
        spec, pod = sts["spec"], sts["spec"]["template"]["spec"]
        engine = fleet.engine(sts["metadata"]["labels"][k8s.LABEL_ENGINE])
        node = pod["containers"][0]
        args = node["args"]
        assert spec["replicas"] == engine.nodes_per_cluster and spec["ordinals"] == {"start": 1}
        assert args[args.index("--grace") + 1] == f"{fleet.grace_period_s:g}"
        assert pod["terminationGracePeriodSeconds"] == termination_grace_s(fleet) == grace
        assert node["lifecycle"]["preStop"] == {"sleep": {"seconds": PRESTOP_S}}
        assert node["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert node["livenessProbe"]["httpGet"]["path"] == "/healthz"  # a draining node stays alive
        assert args[args.index("--node") + 1] == "n$(POD_INDEX)"
        env = {e["name"]: e for e in node["env"]}
        assert env["POD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == f"metadata.labels['{k8s.LABEL_POD_INDEX}']"
        assert env[k8s.BIND_HOST_ENV]["value"] == "0.0.0.0"
        assert pod["shareProcessNamespace"] is True
        # The pod labels the relabeling reads are on the pod template.
        template_labels = spec["template"]["metadata"]["labels"]
        for rule in topology_relabelings():
            source = rule.source_labels[0]
            if source.startswith("__meta_kubernetes_pod_label_") and source != k8s.meta_label(k8s.LABEL_POD_INDEX):
                assert any(k8s.meta_label(k) == source for k in template_labels), source
        pdb = pdbs[sts["metadata"]["name"]]
        assert pdb["spec"]["selector"] == spec["selector"] and pdb["spec"]["maxUnavailable"] == 1
        assert all(template_labels[k] == v for k, v in spec["selector"]["matchLabels"].items())


def test_services_and_monitors_select_the_pods_they_mean() -> None:
    objs = build("base")
    templates = [o["spec"]["template"]["metadata"]["labels"] for o in objs if o["kind"] in ("StatefulSet",
                                                                                           "Deployment")]
    services = _of(objs, "Service")
    for svc in services:
        assert any(all(t.get(k) == v for k, v in svc["spec"]["selector"].items()) for t in templates), svc
    for monitor in _of(objs, "ServiceMonitor"):
        selected = [s for s in services if all(s["metadata"]["labels"].get(k) == v
                                               for k, v in monitor["spec"]["selector"]["matchLabels"].items())]
        assert selected and all(any(p["name"] == "http" for p in s["spec"]["ports"]) for s in selected), monitor
    (pod_monitor,) = _of(objs, "PodMonitor")
    matched = [t for t in templates if all(t.get(k) == v for k, v in pod_monitor["spec"]["selector"]["matchLabels"]
                                           .items())]
    assert len(matched) == len(_of(objs, "StatefulSet"))


def test_the_overlays_change_what_they_say() -> None:
    dev, prod = build("overlays/dev"), build("overlays/production")
    assert {o["metadata"].get("namespace") for o in dev} == {"enginewatch-dev"}
    assert all(s["spec"]["replicas"] == 1 for s in _of(dev, "StatefulSet"))
    assert next(d for d in _of(prod, "Deployment") if d["metadata"]["name"] == k8s.GATEWAY_NAME)["spec"][
        "replicas"] == 3
    for kind in ("PodMonitor", "ServiceMonitor", "PrometheusRule"):
        assert all(o["metadata"]["labels"]["release"] == kustomize.PRODUCTION_RELEASE for o in _of(prod, kind))


def test_the_prometheus_rules_are_the_generated_rule_files_and_pass_promtool(tmp_path: Path) -> None:
    rules = {r["metadata"]["name"]: r for r in _of(build("base"), "PrometheusRule")}
    sources = rule_sources("production")
    assert set(rules) == set(sources)
    tests = {sources["enginewatch-platform"].name: TEST_FILES["production"],
             sources["enginewatch-slos"].name: SLO_DIR / "platform-slos.test.yml"}
    for name, source in sources.items():
        extracted = tmp_path / source.name
        extracted.write_text(yaml.safe_dump({"groups": rules[name]["spec"]["groups"]}, sort_keys=False))
        assert yaml.safe_load(extracted.read_text()) == yaml.safe_load(source.read_text())
        result = check_rules(extracted)
        assert result.ok, result.output
        # The rules' own promtool unit tests pass against the rules as the PrometheusRule carries them.
        shutil.copyfile(tests[source.name], tmp_path / tests[source.name].name)
    result = promtool_test_rules(*(tmp_path / t.name for t in tests.values()))
    assert result.ok, result.output


def test_dashboards_are_configmaps_for_the_grafana_sidecar() -> None:
    maps = [m for m in _of(build("base"), "ConfigMap") if m["metadata"]["labels"].get("grafana_dashboard") == "1"]
    assert sorted(k for m in maps for k in m["data"]) == sorted(f"{uid}.json" for uid in DASHBOARD_UIDS)
    for m in maps:
        ((key, text),) = m["data"].items()
        assert json.loads(text) == json.loads((COMMITTED_DIR / key).read_text())
        assert len(json.dumps(m)) < 256 * 1024  # fits the annotation kubectl apply keeps


def test_the_alertmanager_secret_passes_amtool(tmp_path: Path) -> None:
    (secret,) = [s for s in _of(build("base"), "Secret") if s["metadata"]["name"] == "alertmanager-enginewatch"]
    config = tmp_path / "alertmanager.yaml"
    config.write_text(secret["stringData"]["alertmanager.yaml"])
    result = check_alertmanager_config(config)
    assert result.ok, result.output
    assert "http://alert-receiver.enginewatch.svc:9095/page" in config.read_text()


@pytest.mark.parametrize(("options", "message"), [
    (Options(prometheus_url="prometheus:9090"), "--prometheus-url: 'prometheus:9090' is not an http(s) URL"),
    (Options(image="bad image"), "--image: 'bad image' is not an image reference"),
    (Options(profile="nightly"), "--profile: unknown deployment profile 'nightly'"),
    (Options(gateway_replicas=0), "--gateway-replicas: 0 must be at least 1"),
])
def test_bad_options_are_refused_naming_the_option(options: Options, message: str) -> None:
    with pytest.raises(RenderError, match=re.escape(message)):
        render(load_fleet(DEFAULT_FLEET), options)


def test_the_cli_refuses_bad_input_with_exit_2(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from enginewatch.cli.kubernetes import app

    bad_fleet = tmp_path / "fleet.yaml"
    bad_fleet.write_text("engines:\n  - name: Sales\n    type: M\n    nodes_per_cluster: 1\n    clusters: 1\n"
                         "    version: v1\n")
    runner = CliRunner()
    for argv, message in ((["render", "--out", str(tmp_path), "--ticket-url", "x"],
                           "--ticket-url: 'x' is not an http(s) URL"),
                          (["render", "--out", str(tmp_path), "--fleet", str(bad_fleet)],
                           f"{bad_fleet}: engines[0](Sales).name"),
                          (["render", "--out", str(tmp_path), "--monitor-label", "release"],
                           "--monitor-label: 'release' is not KEY=VALUE")):
        result = runner.invoke(app, argv)
        assert result.exit_code == 2, result.output
        assert message in result.output
    result = runner.invoke(app, ["check", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "stale:" in result.output
