"""The alert rules: current with their sources, valid for promtool (Debian 2.42), every alert tested
both ways, in the monitoring-mixins style, and routed by Alertmanager as on-call expects."""

from __future__ import annotations

import re
import subprocess
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from alerts import files, generate
from alerts import platform as pl
from alerts.profiles import PROFILES
from exporters import contract as c
from foundation import promtool
from foundation.deployment import DASHBOARD_UIDS, runbook_name
from foundation.promql import sel

CAMEL = re.compile(r"^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*$")  # one word too: Watchdog
CAMEL_WITH_ACRONYMS = re.compile(r"^[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$")  # SLONoData


def test_generated_files_are_current() -> None:
    stale = generate.stale()
    assert not stale, f"stale generated files (run `python -m alerts`): {[str(p) for p in stale]}"


def test_promtool_check_rules_passes_on_every_rule_file() -> None:
    ok, output = promtool.check_rules(*files.rule_files())
    assert ok, output


def test_promtool_unit_tests_pass() -> None:
    # One promtool per file, side by side: the SLO tests evaluate hours of series and take a while.
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(promtool.test_rules, files.test_files()))
    failed = [output for ok, output in results if not ok]
    assert not failed, "\n".join(failed)


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    problems = files.coverage_problems(files.rule_files(), files.test_files())
    assert not problems, "\n".join(problems)
    coverage = files.coverage(files.rule_files(), files.test_files())
    assert set(pl.alert_names()) <= {name for (_, name) in coverage}


def test_platform_firing_cases_state_exact_labels_and_annotations() -> None:
    coverage = files.coverage(pl.RULE_FILES.values(), files.test_files())
    assert all(cov.exact for cov in coverage.values()), [k for k, v in coverage.items() if not v.exact]


def test_coverage_check_names_an_alert_without_a_silent_case(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(textwrap.dedent("""
        groups:
        - name: g
          rules:
          - {alert: OnlyFires, expr: vector(1), labels: {severity: info}}
          - {alert: NeverTested, expr: vector(1), labels: {severity: info}}
    """))
    tests = tmp_path / "rules.test.yml"
    tests.write_text(textwrap.dedent("""
        rule_files: [rules.yml]
        tests:
        - interval: 1s
          input_series: []
          alert_rule_test:
          - {eval_time: 1s, alertname: OnlyFires, exp_alerts: [{exp_labels: {severity: info}}]}
    """))
    problems = files.coverage_problems([rules], [tests])
    assert any("OnlyFires" in p and "a silent case" in p and "firing" not in p for p in problems), problems
    assert any("NeverTested" in p and "a firing case and no a silent case" in p for p in problems), problems


def _platform_rules() -> list[dict]:
    return [r for f in pl.RULE_FILES.values() for r in files.alert_rules(f)]


@pytest.mark.parametrize("rule", _platform_rules(), ids=lambda r: r["alert"])
def test_platform_alert_follows_the_mixin_style(rule: dict) -> None:
    assert CAMEL.match(rule["alert"])
    assert rule["labels"]["severity"] in ("critical", "warning", "info", "none")
    ann = rule["annotations"]
    assert set(ann) == {"summary", "description", "runbook_url", "dashboard_url"}
    assert "{{" not in ann["summary"], "the summary is static: it titles grouped notifications"
    if rule["labels"]["severity"] != "none":  # the Watchdog (vector(1)) has no subject to name
        assert "{{ $labels." in ann["description"], "the description says which engine/pod/job"
    assert runbook_name(ann["runbook_url"]) == rule["alert"]
    uid = ann["dashboard_url"].split("/d/", 1)[1].split("?", 1)[0]
    assert uid in DASHBOARD_UIDS


def test_every_alert_in_any_rule_file_has_a_severity_and_a_runbook() -> None:
    for rule_file in files.rule_files():
        for rule in files.alert_rules(rule_file):
            assert CAMEL_WITH_ACRONYMS.match(rule["alert"]), rule["alert"]
            assert rule.get("labels", {}).get("severity") in ("critical", "warning", "info", "none"), rule
            assert runbook_name(rule.get("annotations", {}).get("runbook_url", "")), rule


def test_both_profiles_define_the_same_alerts_and_production_waits_longer() -> None:
    local, production = pl.rules("local"), pl.rules("production")
    assert [r.name for r in local] == [r.name for r in production]
    for lo, prod in zip(local, production, strict=True):
        assert lo.expr.replace("[", "").split("(")[0] == prod.expr.replace("[", "").split("(")[0]
        assert prod.for_ >= lo.for_, lo.name
    assert PROFILES["local"].interval == 1


def test_selectors_are_checked_against_the_contract() -> None:
    assert sel(c.ENGINE_STATE, job=c.JOB_ORCHESTRATOR, state="DRAINING") == \
        'engine_state{job="orchestrator",state="DRAINING"}'
    with pytest.raises(ValueError, match="no label"):
        sel(c.ENGINE_STATE, pod="x")
    with pytest.raises(ValueError, match="never"):
        sel(c.ENGINE_STATE, state="SLEEPING")
    with pytest.raises(ValueError, match="not in the metric contract"):
        sel("engine_states")


# --- Alertmanager ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", files.alertmanager_files(), ids=lambda p: p.name)
def test_amtool_check_config_passes(path: Path) -> None:
    ok, output = promtool.check_alertmanager_config(path)
    assert ok, output


def _route(config: Path, *labels: str) -> str:
    done = subprocess.run([str(promtool.find("amtool")), "config", "routes", "test", f"--config.file={config}",
                           *labels], capture_output=True, text=True, timeout=30, check=False)
    return done.stdout.strip()


@pytest.mark.parametrize(("labels", "receiver"), [
    (("severity=critical", "engine=sales"), "page"),
    (("severity=critical", "slo=gateway-availability", "engine=sales"), "page"),
    (("severity=warning", "engine=sales"), "ticket"),
    (("severity=info", "job=slo-service"), "default"),
    (("alertname=Watchdog", "severity=none"), "watchdog"),
])
def test_alertmanager_routes_by_severity(labels: tuple[str, ...], receiver: str) -> None:
    for path in files.alertmanager_files():
        assert _route(path, *labels) == receiver, (path.name, labels)


def test_a_page_inhibits_tickets_of_the_same_engine_or_slo_only() -> None:
    config = yaml.safe_load(files.alertmanager_files()[0].read_text())
    rules = config["inhibit_rules"]
    assert {tuple(r["equal"]) for r in rules} == {("slo", "engine"), ("engine",)}
    for rule in rules:
        # A page without the subject label must not silence tickets without it (missing == missing).
        subject = rule["equal"][0]
        assert f'{subject}=~".+"' in rule["source_matchers"] and f'{subject}=~".+"' in rule["target_matchers"]
