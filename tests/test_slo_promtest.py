"""Generated promtool proofs pass, fail when the rules are wrong, and the committed copies are fresh."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts import files
from slo import artifacts, load_paths, platform_slos, promtest, rules
from slo.windows import LOCAL
from tests.test_slo_rules import promtool


def test_committed_artifacts_are_up_to_date() -> None:
    stale = artifacts.stale(artifacts.platform_artifacts())
    assert not stale, f"regenerate with `enginewatch slo generate --platform`: {stale}"


@pytest.mark.parametrize("stem", list(artifacts.PLATFORM_PROFILES.values()))
def test_committed_rules_pass_promtool(stem: str) -> None:
    check = promtool("check", "rules", f"{stem}.rules.yml", cwd=artifacts.ALERTS_DIR)
    assert check.returncode == 0, check.stdout + check.stderr
    test = promtool("test", "rules", f"{stem}.test.yml", cwd=artifacts.ALERTS_DIR)
    assert test.returncode == 0, test.stdout + test.stderr


def test_committed_proofs_state_the_alerts_whole_and_no_data_both_ways() -> None:
    rule_files = [artifacts.ALERTS_DIR / f"{stem}.rules.yml" for stem in artifacts.PLATFORM_PROFILES.values()]
    test_files = [artifacts.ALERTS_DIR / f"{stem}.test.yml" for stem in artifacts.PLATFORM_PROFILES.values()]
    assert not files.coverage_problems(rule_files, test_files)
    coverage = files.coverage(rule_files, test_files)
    assert {name for _, name in coverage} >= {rules.NO_DATA_ALERT, "GatewayAvailabilityBudgetBurn"}
    assert all(c.exact for c in coverage.values()), [k for k, c in coverage.items() if not c.exact]


def test_local_profile_pages_a_total_outage_within_about_10s() -> None:
    test = promtest.generate(platform_slos(), "x.yml", rules.Options(profile="local"))
    availability = [d for d in test.detections if d.slo.endswith("availability")]
    assert availability and all(d.bound <= 10 for d in availability)
    assert LOCAL.scrape_interval == LOCAL.interval == 1


def test_the_proofs_catch_a_wrong_threshold(tmp_path: Path) -> None:
    slos = platform_slos()[:1]
    rule_text, test_text = artifacts.render_rules(slos, rules.Options(), "r.yml")
    (tmp_path / "r.yml").write_text(rule_text.replace("> 1.0\n", "> 0.9\n"))  # ticket-slow below 1x
    (tmp_path / "t.yml").write_text(test_text)
    run = promtool("test", "rules", "t.yml", cwd=tmp_path)
    assert run.returncode != 0 and 'slo_tier=~\\"page-fast|page-slow|ticket-fast|ticket-slow' in run.stderr
    assert "exp: nil" in run.stderr  # the 1x scenario expected silence and got an alert
    (tmp_path / "r.yml").write_text(rule_text.replace("> 14.4\n", "> 144.0\n"))  # page too late
    run = promtool("test", "rules", "t.yml", cwd=tmp_path)
    expected, got = run.stderr.split("got:[", 1)
    assert run.returncode != 0 and 'slo_tier="page-fast"' in expected and 'slo_tier="page-fast"' not in got


def test_cli_generate_writes_rules_and_proofs_that_pass(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.test_slo_loaders import SLOTH

    out = tmp_path / "gs.rules.yml"
    run = subprocess.run([sys.executable, "-m", "enginewatch.cli", "slo", "generate",
                          str(SLOTH / "getting-started.yml"), str(SLOTH / "kubernetes-apiserver.yml"), "-o", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "no test: SLO k8s-apiserver-requests-latency: free-form PromQL" in run.stdout
    assert "no test: SLO myservice" not in run.stdout  # same metric for bad and total events
    assert "note: SLONoData: counted per synthesizable SLO" in run.stdout  # the free-form SLO's fires
    assert promtool("check", "rules", out.name, cwd=tmp_path).returncode == 0
    test = promtool("test", "rules", "gs.test.yml", cwd=tmp_path)
    assert test.returncode == 0, test.stdout + test.stderr
    crd = subprocess.run([sys.executable, "-m", "enginewatch.cli", "slo", "generate", "--prometheus-rule",
                          "--namespace", "monitoring"], capture_output=True, text=True, timeout=60)
    assert crd.returncode == 0 and "kind: PrometheusRule" in crd.stdout
    check = subprocess.run([sys.executable, "-m", "enginewatch.cli", "slo", "generate", "--platform",
                            "--check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr


def test_the_proofs_catch_a_wrong_annotation_and_a_no_data_alert_that_always_fires(tmp_path: Path) -> None:
    rule_text, test_text = artifacts.render_rules(platform_slos()[:1], rules.Options(), "r.yml")
    (tmp_path / "t.yml").write_text(test_text)
    (tmp_path / "r.yml").write_text(rule_text.replace("var-engine={{ $labels.engine }}", "var-engine=sales"))
    run = promtool("test", "rules", "t.yml", cwd=tmp_path)
    assert run.returncode != 0 and "alertname: GatewayAvailabilityBudgetBurn" in run.stderr
    assert "var-engine=sales" in run.stderr.split("got:[", 1)[1]
    assert 'slo="gateway-availability"} == 0)' in rule_text
    (tmp_path / "r.yml").write_text(rule_text.replace('slo="gateway-availability"} == 0)',
                                                      'slo="gateway-availability"} >= 0)'))
    run = promtool("test", "rules", "t.yml", cwd=tmp_path)
    assert run.returncode != 0 and "alertname: SLONoData" in run.stderr and "exp:[]" in run.stderr


def test_every_sloth_examples_generated_proofs_pass(tmp_path: Path) -> None:
    from tests.test_slo_loaders import SLOTH_EXAMPLES

    tests = []
    for i, path in enumerate(SLOTH_EXAMPLES):
        rule_name = f"{i}-{path.stem}.rules.yml"
        rule_text, test_text = artifacts.render_rules(load_paths([path]), rules.Options(), rule_name)
        (tmp_path / rule_name).write_text(rule_text)
        (tmp_path / f"{i}-{path.stem}.test.yml").write_text(test_text)
        tests.append(f"{i}-{path.stem}.test.yml")
    run = promtool("test", "rules", *tests, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_proofs_catch_a_wrong_budget_threshold(tmp_path: Path) -> None:
    rule_text, test_text = artifacts.render_rules(platform_slos()[:1], rules.Options(profile="local"), "r.yml")
    (tmp_path / "t.yml").write_text(test_text)
    assert "slo:error_budget_remaining:ratio{slo=\"gateway-availability\"} < 25.0 > 0" in rule_text
    (tmp_path / "r.yml").write_text(rule_text.replace("} < 25.0 > 0", "} < 10.0 > 0"))  # low alert too late
    run = promtool("test", "rules", "t.yml", cwd=tmp_path)
    assert run.returncode != 0 and "alertname: SLOErrorBudgetLow" in run.stderr
    (tmp_path / "r.yml").write_text(rule_text.replace("} <= 0\n", "} <= 50\n"))  # "exhausted" with half left
    run = promtool("test", "rules", "t.yml", cwd=tmp_path)
    assert run.returncode != 0 and "alertname: SLOErrorBudgetExhausted" in run.stderr and "exp:[]" in run.stderr
