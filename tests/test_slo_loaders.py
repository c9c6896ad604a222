"""Specs of every supported format load into one model; bad and unsupported input is named precisely."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
import yaml

from slo import NotSupportedError, SpecError, load_paths
from slo.model import EventsSLI, RawSLI
from slo.promql import SelectorQuery, TemplateQuery
from slo.specs import PLATFORM_YAML, platform_slos
from slo.windows import GOOGLE_28D, GOOGLE_30D, LOCAL, effective_tiers

# Data from Sloth and OpenSLO, copied into the repository with their sources (fixtures/anchors/SOURCES.md).
ANCHORS = Path(__file__).resolve().parent / "fixtures" / "anchors"
SLOTH = ANCHORS / "sloth" / "examples"
OPENSLO = ANCHORS / "openslo"
SLOTH_EXAMPLES = sorted(p for p in SLOTH.iterdir() if p.suffix in (".yml", ".yaml"))


def _norm(expr: str) -> str:
    return re.sub(r"\s+", "", expr)


@pytest.mark.parametrize("path", SLOTH_EXAMPLES, ids=lambda p: p.name)
def test_every_sloth_example_loads(path: Path) -> None:
    slos = load_paths([path])
    gen = yaml.safe_load_all((SLOTH / "_gen" / path.name).read_text())
    sloth_ids = {r["labels"]["sloth_id"] for d in gen if d for g in (d.get("spec") or d)["groups"]
                 for r in g["rules"] if r.get("record") == "sloth_slo_info"}
    assert {s.id for s in slos} == sloth_ids


def test_sloth_sli_plugin_maps_to_the_queries_sloth_generates() -> None:
    (slo,) = load_paths([SLOTH / "plugin-getting-started.yml"])
    assert isinstance(slo.sli, EventsSLI) and isinstance(slo.sli.bad, SelectorQuery)
    gen = next(d for d in yaml.safe_load_all((SLOTH / "_gen" / "plugin-getting-started.yml").read_text()) if d)
    sloth_5m = gen["groups"][0]["rules"][0]["expr"]
    # Same selectors, whatever the spacing Sloth's template left inside the braces.
    ours = {_norm(slo.sli.bad.render("5m")), _norm(slo.sli.total.render("5m"))}
    for q in ours:
        inner = q.removeprefix("sum(rate(").removesuffix("[5m]))")
        name, labels = inner.split("{", 1)
        assert name in sloth_5m
        for matcher in labels.rstrip("}").split(","):
            assert matcher in _norm(sloth_5m)


def test_sloth_crd_camel_case_and_slo_plugins() -> None:
    (slo,) = load_paths([SLOTH / "contrib-denominator-corrected.yaml"])
    assert slo.labels == {"global01k1": "global01v1", "global02k1": "global02v1"}
    assert slo.alerting and slo.alerting.page_labels == {"alert03k1": "alert03v1"}
    (k8s,) = load_paths([SLOTH / "k8s-getting-started.yml"])
    (prom,) = load_paths([SLOTH / "getting-started.yml"])
    assert replace(k8s, source="") == replace(prom, source="")


def test_sloth_raw_and_template_slis_are_kept_as_written() -> None:
    (wifi,) = load_paths([SLOTH / "raw-home-wifi.yml"])
    assert isinstance(wifi.sli, RawSLI)
    availability, latency = load_paths([SLOTH / "kubernetes-apiserver.yml"])
    assert isinstance(availability.sli.total, SelectorQuery)
    assert isinstance(latency.sli, EventsSLI) and isinstance(latency.sli.bad, TemplateQuery)
    assert latency.objective == Fraction(99, 100)


def test_sloth_no_alerts_generates_no_tiers() -> None:
    (slo,) = load_paths([SLOTH / "no-alerts.yml"])
    assert effective_tiers(slo) == ()


def _write(tmp_path: Path, name: str, doc: object) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(doc if isinstance(doc, list) else [doc], sort_keys=False))
    return path


def _sloth(**slo: object) -> dict[str, object]:
    base: dict[str, object] = {
        "name": "avail", "objective": 99.9,
        "sli": {"events": {"error_query": 'sum(rate(req_total{code="500"}[{{.window}}]))',
                           "total_query": "sum(rate(req_total[{{.window}}]))"}},
        "alerting": {"name": "Avail"},
    }
    base.update(slo)
    return {"version": "prometheus/v1", "service": "svc", "slos": [base]}


@pytest.mark.parametrize(("change", "field", "reason"), [
    ({"objective": 100}, "objective", "no error budget"),
    ({"objective": "high"}, "slos[0].objective", "number"),
    ({"sli": {"events": {"error_query": "sum(rate(x[5m]))", "total_query": "sum(rate(x[{{.window}}]))"}}},
     "slos[0].sli.events.error_query", "{{.window}}"),
    ({"sli": {"events": {"error_query": 'sum(rate(x[{{.window}}]))'}}}, "slos[0].sli.events.total_query",
     "missing"),
    ({"alerting": {"name": "A", "page_alert": {"disabled": True}}}, "slos[0].alerting.page_alert.disabled",
     "unknown field"),
    ({"sli": {"plugin": {"id": "sloth-common/kubernetes/apiserver/availability"}}}, "slos[0].sli.plugin",
     "'sloth-common/kubernetes/apiserver/availability' is not supported"),
])
def test_invalid_specs_name_file_slo_field_and_reason(tmp_path: Path, change: dict[str, object], field: str,
                                                     reason: str) -> None:
    path = _write(tmp_path, "bad.yml", _sloth(**change))
    with pytest.raises(SpecError) as err:
        load_paths([path])
    assert err.value.file == str(path)
    assert err.value.slo == "avail"
    assert err.value.field == field
    assert reason in err.value.reason


def test_unknown_sloth_slo_plugin_is_named(tmp_path: Path) -> None:
    doc = _sloth()
    doc["slo_plugins"] = {"chain": [{"id": "sloth.dev/contrib/info_labels/v1"}]}
    with pytest.raises(NotSupportedError, match="info_labels/v1"):
        load_paths([_write(tmp_path, "p.yml", doc)])


def test_tier_that_cannot_fire_is_refused(tmp_path: Path) -> None:
    (slo,) = load_paths([_write(tmp_path, "low.yml", _sloth(objective=90))])
    with pytest.raises(SpecError) as err:
        effective_tiers(slo)
    assert err.value.field == "alerting.tiers.page-fast"
    assert "can never fire" in err.value.reason and "14.4" in err.value.reason


def test_google_and_local_factors_are_exact() -> None:
    assert [t.burn_rate(GOOGLE_30D.period) for t in GOOGLE_30D.tiers] == [Fraction(72, 5), 6, 3, 1]
    assert [t.burn_rate(LOCAL.period) for t in LOCAL.tiers] == [Fraction(72, 5), 6, 3, 1]
    assert [t.burn_rate(GOOGLE_28D.period) for t in GOOGLE_28D.tiers] == [
        Fraction(336, 25), Fraction(28, 5), Fraction(14, 5), Fraction(14, 15)]


@pytest.mark.parametrize("path", sorted(OPENSLO.rglob("*.yaml")), ids=lambda p: p.name)
def test_openslo_anchors_load_or_name_what_is_unsupported(path: Path) -> None:
    try:
        slos = load_paths([path])
    except NotSupportedError as exc:
        assert exc.slo and "not supported" in exc.reason
        assert re.search(r"Timeslices|thresholdMetric|timeWindow|Datadog|source", exc.reason)
        return
    assert slos == []  # files of objects that are not SLOs


def test_openslo_directory_names_every_unsupported_feature() -> None:
    with pytest.raises(NotSupportedError) as err:
        load_paths([OPENSLO / "go-sdk-v1-examples" / "slos.yaml"])
    for feature in ("budgetingMethod Timeslices", "isRolling: false", "timeSliceTarget"):
        assert feature in err.value.reason


OPENSLO_V1 = [
    {"apiVersion": "openslo/v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {}},
    {"apiVersion": "openslo/v1", "kind": "SLI", "metadata": {"name": "web-ok"},
     "spec": {"ratioMetric": {"counter": True,
                              "bad": {"metricSource": {"type": "Prometheus",
                                                       "spec": {"query": 'sum by (engine) (http_total{code=~"5.."})'}}},
                              "total": {"metricSource": {"metricSourceRef": "prom",
                                                         "spec": {"query": "sum by (engine) (http_total)"}}}}}},
    {"apiVersion": "openslo/v1", "kind": "DataSource", "metadata": {"name": "prom"},
     "spec": {"type": "Prometheus", "connectionDetails": [{"url": "http://127.0.0.1:9090"}]}},
    {"apiVersion": "openslo/v1", "kind": "AlertCondition", "metadata": {"name": "fast-burn"},
     "spec": {"severity": "page", "condition": {"kind": "burnrate", "op": "gt", "threshold": 14.4,
                                                "lookbackWindow": "1h", "alertAfter": "2m"}}},
    {"apiVersion": "openslo/v1", "kind": "AlertPolicy", "metadata": {"name": "pager"},
     "spec": {"alertWhenBreaching": True, "alertWhenNoData": True, "conditions": [{"conditionRef": "fast-burn"}]}},
    {"apiVersion": "openslo/v1", "kind": "SLO",
     "metadata": {"name": "web-availability", "labels": {"team": ["a", "b"]}},
     "spec": {"service": "web", "indicatorRef": "web-ok", "budgetingMethod": "Occurrences",
              "timeWindow": [{"duration": "28d", "isRolling": True}],
              "objectives": [{"displayName": "Good", "target": 0.999}],
              "alertPolicies": [{"alertPolicyRef": "pager"}]}},
]


def test_openslo_v1_ratio_occurrences_rolling_and_burn_rate_policy(tmp_path: Path) -> None:
    _write(tmp_path, "objects.yaml", OPENSLO_V1[:5])
    _write(tmp_path, "slo.yaml", OPENSLO_V1[5:])
    (slo,) = load_paths([tmp_path])
    assert slo.id == "web-web-availability" and slo.period == 28 * 86400
    assert slo.objective == Fraction(999, 1000) and slo.labels == {"team": "a,b"}
    assert isinstance(slo.sli, EventsSLI) and slo.sli.group_by == ("engine",)
    assert slo.sli.bad == SelectorQuery(slo.sli.bad.selector)  # counter selector, rate built by us
    (tier,) = effective_tiers(slo)
    assert (tier.name, tier.severity, tier.long_window, tier.short_window, tier.for_) == (
        "fast-burn", "page", 3600, 300, 120)
    assert tier.burn_rate(slo.period) == Fraction("14.4")


def test_openslo_lte_condition_is_refused(tmp_path: Path) -> None:
    objs = [dict(o) for o in OPENSLO_V1]
    objs[3] = {**objs[3], "spec": {"severity": "page", "condition": {
        "kind": "burnrate", "op": "lte", "threshold": 2, "lookbackWindow": "1h"}}}
    _write(tmp_path, "all.yaml", objs)
    with pytest.raises(NotSupportedError, match="op 'lte'"):
        load_paths([tmp_path])


def test_native_platform_yaml_is_the_contract_built_specs() -> None:
    loaded = load_paths([PLATFORM_YAML])
    assert [replace(s, source="") for s in loaded] == [replace(s, source="") for s in platform_slos()]


def test_native_overrides(tmp_path: Path) -> None:
    doc = {"version": "enginewatch/v1", "service": "api", "period": "28d", "slos": [{
        "name": "ok", "objective": 99.5,
        "sli": {"bad": 'api_errors_total{kind="server"}', "total": "api_requests_total", "group_by": ["route"]},
        "alerting": {"tiers": {"ticket-slow": {"disable": True}, "page-fast": {"burn_rate": 10, "for": "1m"}},
                     "min_events": 5, "no_data": {"for": "30m"}}}]}
    (slo,) = load_paths([_write(tmp_path, "api.yml", doc)])
    tiers = {t.name: t for t in effective_tiers(slo)}
    assert "ticket-slow" not in tiers and tiers["page-fast"].burn_rate(slo.period) == 10
    assert tiers["page-fast"].for_ == 60 and slo.alerting and slo.alerting.min_events == 5


def test_cli_validate_exits_2_with_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.yml", _sloth(objective=100))
    run = subprocess.run([sys.executable, "-m", "enginewatch.cli", "slo", "validate", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip() == f"error: {path}: SLO 'avail': objective: objective 100% leaves no error " \
                                 "budget to alert on; use a value in (0, 100)"
    ok = subprocess.run([sys.executable, "-m", "enginewatch.cli", "slo", "validate"],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and f"{len(platform_slos())} SLOs valid" in ok.stdout
