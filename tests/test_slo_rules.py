"""Generated rules are valid for Prometheus 2.42, cheap (2 raw-reading rules per SLO) and NaN-free."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from exporters.contract import SLO_MAINTENANCE_ACTIVE
from foundation.deployment import SLOS, runbook_name
from foundation.promtool import find as find_tool
from slo import load_paths, platform_slos, rules, series
from slo.promql import selectors_in
from tests.test_slo_loaders import SLOTH, SLOTH_EXAMPLES

PROMTOOL = str(find_tool("promtool"))


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=240, cwd=cwd)


def _all_sloth_slos() -> list:
    return [s for p in SLOTH_EXAMPLES for s in load_paths([p])]


def test_every_sloth_example_and_the_platform_pass_promtool_check(tmp_path: Path) -> None:
    files = []
    for i, path in enumerate(SLOTH_EXAMPLES):
        out = tmp_path / f"{i}-{path.stem}.rules.yml"
        out.write_text(rules.dump(rules.rule_file(rules.generate(load_paths([path])))))
        files.append(str(out))
    for profile in (None, "local", "google-28d"):
        out = tmp_path / f"platform-{profile}.rules.yml"
        out.write_text(rules.dump(rules.rule_file(rules.generate(platform_slos(), rules.Options(profile=profile)))))
        files.append(str(out))
    run = promtool("check", "rules", *files)
    assert run.returncode == 0, run.stdout + run.stderr


def _raw_reads(rule: dict) -> set[str]:
    # The maintenance gauge is read over one base window only, by the base rules and the no-data guard.
    return {m for m in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{|\[)", rule["expr"])
            if not m.startswith("slo:")} - {"sum", "rate", "by", "ignoring", "clamp_min", "clamp_max",
                                            SLO_MAINTENANCE_ACTIVE.name}


@pytest.mark.parametrize("slo", [*platform_slos(), *_all_sloth_slos()], ids=lambda s: s.id)
def test_at_most_two_rules_per_slo_read_raw_series(slo) -> None:
    (generated,) = rules.generate([slo])
    reading = [r for g in generated.groups for r in g["rules"] if _raw_reads(r)]
    assert 1 <= len(reading) <= 2
    assert {r["record"] for r in reading} <= {series.TOTAL, series.ERRORS}
    # Every other rule reads only recorded slo:* series: no long raw range ever.
    for g in generated.groups:
        for r in g["rules"]:
            if r not in reading:
                assert not _raw_reads(r), r["expr"]
    # Metadata lives on the info series only.
    for g in generated.groups:
        for r in g["rules"]:
            if "record" in r and r["record"] != series.INFO:
                assert set(r["labels"]) == {series.SLO_LABEL}


def test_rule_counts_against_sloth() -> None:
    (ours,) = rules.generate(load_paths([SLOTH / "getting-started.yml"]))
    gen = next(d for d in yaml.safe_load_all((SLOTH / "_gen" / "getting-started.yml").read_text()) if d)
    sloth = [r for g in gen["groups"] for r in g["rules"]]
    sloth_rec = sum("record" in r for r in sloth)
    sloth_raw = sum(bool(selectors_in(r["expr"]) and not r["expr"].lstrip().startswith(("sum_over_time", "slo:")) and
                         "http_request" in r["expr"]) for r in sloth)
    print(f"\nrules per SLO: ours {ours.recording_rules} recording + {ours.alerting_rules} alerting "
          f"(2 read raw series); Sloth {sloth_rec} recording + {len(sloth) - sloth_rec} alerting "
          f"({sloth_raw} read raw series)")
    assert (sloth_rec, len(sloth) - sloth_rec, sloth_raw) == (15, 2, 7)
    assert ours.recording_rules == 7 and ours.alerting_rules == 7  # 4 tiers, no data, budget exhausted and low


def test_prometheus_rule_object() -> None:
    doc = rules.prometheus_rule(rules.generate(platform_slos()), "slos", "monitoring")
    assert doc["apiVersion"] == "monitoring.coreos.com/v1" and doc["kind"] == "PrometheusRule"
    assert doc["metadata"]["namespace"] == "monitoring" and len(doc["spec"]["groups"]) == 12  # 6 SLOs


def test_alert_labels_and_annotations() -> None:
    generated = rules.generate(platform_slos(), rules.Options(runbook_base="https://runbooks.example/r/",
                                                              grafana_url="https://grafana.example"))
    alerts = [r for g in generated for grp in g.groups for r in grp["rules"] if "alert" in r]
    burn = [a for a in alerts if a["alert"] == "GatewayAvailabilityBudgetBurn"]
    assert [a["labels"]["severity"] for a in burn] == ["critical", "critical", "warning", "warning"]
    assert burn[0]["annotations"]["runbook_url"] == "https://runbooks.example/r/GatewayAvailabilityBudgetBurn.md"
    assert burn[0]["annotations"]["dashboard_url"] == \
        f"https://grafana.example/d/{SLOS}?var-engine={{{{ $labels.engine }}}}"
    assert "14.4" in burn[0]["expr"] and ">= 70" in burn[0]["expr"]  # factor and low-traffic guard
    nodata = [a for a in alerts if a["alert"] == rules.NO_DATA_ALERT]
    # Engine starts and batch engines opt out: an idle control plane is normal, and so is a fleet
    # without a batch engine (no series at all) or one idle between reports.
    assert len(nodata) == 4 and {a["labels"]["slo"] for a in nodata}.isdisjoint(
        {"control-plane-engine-start-latency", "gateway-batch-latency"})
    # Hours without a scan are normal too: that SLO has no data only when its series are missing
    # (unless a maintenance window dropped them on purpose).
    for slo in ("gateway-scan-latency",):
        idle = [a for a in nodata if a["labels"]["slo"] == slo]
        assert [a["expr"].split("unless")[0].strip(" (\n") for a in idle] == [
            f'absent(slo:sli_total:rate{{slo="{slo}"}})']
        assert "== 0" not in idle[0]["expr"] and "slo_maintenance_window_active" in idle[0]["expr"]


@pytest.mark.parametrize("profile", [None, "local"])
def test_alerts_follow_the_mixin_style(profile: str | None) -> None:
    generated = rules.generate(platform_slos(), rules.Options(profile=profile))
    for g in generated:
        for rule in (r for grp in g.groups for r in grp["rules"] if "alert" in r):
            _mixin_style(rule, g.slo.sli.group_by if rule["alert"] != rules.NO_DATA_ALERT else ("slo",))


def _mixin_style(rule: dict, says: tuple[str, ...]) -> None:
    ann = rule["annotations"]
    assert set(ann) == {"summary", "description", "runbook_url", "dashboard_url"}, rule["alert"]
    assert "{{" not in ann["summary"], "the summary is static: it titles grouped notifications"
    assert "{{ $" in ann["description"], "the description is templated"
    for label in says:  # which engine, which SLO
        assert f"{{{{ $labels.{label} }}}}" in ann["description"]
    assert runbook_name(ann["runbook_url"]) == rule["alert"]
    assert ann["dashboard_url"].split("/d/", 1)[1].split("?", 1)[0] == SLOS
    assert rule["labels"]["severity"] in ("critical", "warning")


NAN_RULES = """
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
  # No traffic for 40 minutes (the counters exist but do not move), then traffic, then none again.
  - series: gateway_request_duration_seconds_count{engine="e"}
    values: 0x40 0+600x30 18000x60
  - series: gateway_errors_total{engine="e",error_type="timeout"}
    values: 0x40 0+6x30 180x60
  promql_expr_test:
  - expr: slo:sli_error:ratio_period{slo="gateway-availability"}
    eval_time: 30m
    exp_samples: []   # no traffic yet: no data, not NaN and not 0
  - expr: slo:error_budget_remaining:ratio{slo="gateway-availability"}
    eval_time: 30m
    exp_samples: []
  - expr: slo:sli_error:ratio_period{slo="gateway-availability"}
    eval_time: 2h
    exp_samples: [{labels: 'slo:sli_error:ratio_period{engine="e",slo="gateway-availability"}', value: 0.01}]
  - expr: slo:sli_errors:rate{slo="gateway-availability"}
    eval_time: 2h
    exp_samples: [{labels: 'slo:sli_errors:rate{engine="e",slo="gateway-availability"}', value: 0}]
"""
# NaN != NaN: no recorded SLO series is ever NaN, before, during and after traffic.
NAN_RULES += "".join(
    f"""  - expr: count({name} != {name})
    eval_time: {t}
    exp_samples: []
""" for name in (series.TOTAL, series.ERRORS, series.TOTAL_TILE, series.ERRORS_TILE, series.PERIOD_ERROR_RATIO,
                 series.BUDGET_REMAINING)
    for t in ("5m", "30m", "45m", "1h10m", "2h"))


def test_no_traffic_is_no_data_never_nan(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(rules.dump(rules.rule_file(rules.generate(platform_slos()[:1]))))
    (tmp_path / "test.yml").write_text(NAN_RULES)
    run = promtool("test", "rules", "test.yml", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


TILES = """
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
- interval: 30s
  input_series:
  # Integer rates (so every sum is exact): 10/s, then 40/s with 1/s errors, then 2/s with 2/s errors.
  - series: gateway_request_duration_seconds_count{engine="e"}
    values: 0+300x40 13200+1200x50 73200+60x40
  - series: gateway_errors_total{engine="e",error_type="timeout"}
    values: 0+0x40 30+30x50 1560+60x40
  promql_expr_test:
  # 13 tiles (5m ... 1h5m) hold every base sample (1m ... 1h5m) exactly once: same sums, to the event.
  - expr: count_over_time(slo:sli_total:tile_sum{slo="gateway-availability"}[2h])
    eval_time: 1h5m
    exp_samples: [{labels: '{engine="e",slo="gateway-availability"}', value: 13}]
  - expr: |
      sum_over_time(slo:sli_total:tile_sum{slo="gateway-availability"}[2h])
      - sum_over_time(slo:sli_total:rate{slo="gateway-availability"}[2h])
    eval_time: 1h5m
    exp_samples: [{labels: '{engine="e",slo="gateway-availability"}', value: 0}]
  - expr: |
      sum_over_time(slo:sli_errors:tile_sum{slo="gateway-availability"}[2h])
      - sum_over_time(slo:sli_errors:rate{slo="gateway-availability"}[2h])
    eval_time: 1h5m
    exp_samples: [{labels: '{engine="e",slo="gateway-availability"}', value: 0}]
  # The budget group reads the tiles up to its own evaluation; groups run in no fixed order (in
  # promtool as in Prometheus), so at 1h6m it has surely seen the 1h5m tile, and only that one.
  - expr: |
      slo:sli_error:ratio_period{slo="gateway-availability"}
      - ignoring (__name__) (sum_over_time(slo:sli_errors:rate{slo="gateway-availability"}[2h] offset 1m)
      / sum_over_time(slo:sli_total:rate{slo="gateway-availability"}[2h] offset 1m))
    eval_time: 1h6m
    exp_samples: [{labels: '{engine="e",slo="gateway-availability"}', value: 0}]
  # Between tiles nothing new is recorded: the last tile was at 1h5m.
  - expr: count_over_time(slo:sli_total:tile_sum{slo="gateway-availability"}[3m])
    eval_time: 1h9m
    exp_samples: []
"""


def test_period_tiles_hold_every_base_sample_once(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(rules.dump(rules.rule_file(rules.generate(platform_slos()[:1]))))
    (tmp_path / "test.yml").write_text(TILES)
    run = promtool("test", "rules", "test.yml", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
