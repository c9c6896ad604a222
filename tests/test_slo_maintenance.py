"""Maintenance windows: declared in specs (checked like every spec field) and proven by promtool to
keep their events out of every SLI, alert and budget, while the same errors outside a window burn.

The promtool proofs run one outage of ``analytics`` at 10 errors/s from 70 s to 160 s (epoch), with a
window over [60 s, 180 s): declared in the spec, or opened at runtime (the SLO service's
``slo_maintenance_window_active`` series, as Prometheus would scrape it, read by the committed rules).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from slo import artifacts, rules
from slo.errors import SpecError
from slo.loaders import load_paths
from slo.maintenance import MaintenanceWindow
from tests.test_slo_rules import promtool

SPEC = """
version: enginewatch/v1
service: gw
{shared}
slos:
  - name: availability
    objective: 99.9
    sli:
      bad: gateway_errors_total{{error_type="internal"}}
      total: gateway_request_duration_seconds_count
      group_by: [engine]
{own}
  - name: starts
    objective: 95
    sli: {{bad: starts_failed_total, total: starts_total}}
"""
ALERT = "GwAvailabilityBudgetBurn"
OUTAGE = (70, 160)  # analytics fails every query in [70 s, 160 s)
WINDOW = "{start: 1970-01-01T00:01:00Z, end: 1970-01-01T00:03:00Z, reason: storage migration%s}"  # [60, 180)
END = 220  # seconds of input


def spec(tmp_path: Path, shared: str = "", own: str = "", name: str = "gw.yaml") -> Path:
    path = tmp_path / name
    path.write_text(SPEC.format(shared=shared, own=own))
    return path


def _error(tmp_path: Path, **kw: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_paths([spec(tmp_path, **kw)])
    return info.value


# --- the spec ----------------------------------------------------------------------------------------

def test_shared_and_own_windows_load_with_their_scope(tmp_path: Path) -> None:
    shared = ("maintenance:\n  - {start: 2026-12-24T02:00:00Z, duration: 2h, reason: migration}\n"
              "  - {start: '2026-12-25T02:00:00+01:00', end: 2026-12-25T03:00:00Z, reason: x, engine: analytics}")
    own = "    maintenance:\n      - {start: 2026-12-26T00:00:00Z, duration: 30m, reason: upgrade, engine: sales}"
    availability, starts = load_paths([spec(tmp_path, shared, own)])
    assert availability.maintenance == (
        MaintenanceWindow(1798077600, 1798077600 + 7200, "migration"),
        MaintenanceWindow(1798160400, 1798167600, "x", "analytics"),  # +01:00 read as such
        MaintenanceWindow(1798243200, 1798245000, "upgrade", "sales"))
    # Not split by engine: the shared engine window leaves it alone.
    assert starts.maintenance == (MaintenanceWindow(1798077600, 1798084800, "migration"),)


@pytest.mark.parametrize(("shared", "own", "field", "reason"), [
    ("maintenance:\n  - {start: 2026-12-24T02:00:00Z, end: 2026-12-24T01:00:00Z, reason: r}", "",
     "maintenance[0].end", "is not after start 2026-12-24T02:00:00Z"),
    ("maintenance:\n  - {start: 2026-12-24T02:00:00, duration: 1h, reason: r}", "",
     "maintenance[0].start", "timezone"),
    ("maintenance:\n  - {start: next tuesday, duration: 1h, reason: r}", "", "maintenance[0].start", "datetime"),
    ("maintenance:\n  - {start: 2026-12-24T02:00:00Z, reason: r}", "", "maintenance[0]",
     "exactly one of end and duration"),
    ("maintenance:\n  - {start: 2026-12-24T02:00:00Z, duration: 1h}", "", "maintenance[0].reason",
     "required field is missing"),
    ("maintenance:\n  - {start: 2026-12-24T02:00:00Z, duration: 0s, reason: r}", "", "maintenance[0].duration",
     "must be positive"),
    ("", "    maintenance:\n      - {start: 2026-12-24T02:00:00Z, duration: 1h, reason: r, engine: sales}\n"
         "  - name: x\n    objective: 99\n    sli: {bad: a_total, total: b_total}\n"
         "    maintenance:\n      - {start: 2026-12-24T02:00:00Z, duration: 1h, reason: r, engine: sales}",
     "slos[1].maintenance[0].engine", "not split by engine"),
])
def test_bad_windows_name_file_field_and_reason(tmp_path: Path, shared: str, own: str, field: str,
                                                reason: str) -> None:
    err = _error(tmp_path, shared=shared, own=own)
    assert err.file and err.file.endswith("gw.yaml")
    assert err.field == field and reason in err.reason, err


def test_cli_refuses_a_bad_window_with_exit_2(tmp_path: Path) -> None:
    path = spec(tmp_path, "maintenance:\n  - {start: 2026-12-24T02:00:00Z, end: 2026-12-24T01:00:00Z, reason: r}")
    from typer.testing import CliRunner

    from enginewatch.cli.main import app

    run = CliRunner().invoke(app, ["slo", "validate", str(path)])
    assert run.exit_code == 2, run.output
    err = " ".join(run.stderr.split())  # rich may fold the long path
    assert "gw.yaml" in err and "maintenance[0].end: end 2026-12-24T01:00:00Z is not after start" in err, err
    assert "Traceback" not in run.output


def test_windows_render_back_to_the_native_format(tmp_path: Path) -> None:
    from slo.loaders import native

    own = "    maintenance:\n      - {start: 2026-12-26T00:00:00Z, duration: 30m, reason: upgrade, engine: sales}"
    slos = load_paths([spec(tmp_path, own=own)])
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump_all(native.render(slos)))
    assert [s.maintenance for s in load_paths([again])] == [s.maintenance for s in slos]


def test_sloth_rules_refuse_an_slo_with_windows_they_cannot_exclude(tmp_path: Path) -> None:
    from slo import sloth_rules
    from slo.errors import NotSupportedError

    (slo, _) = load_paths([spec(tmp_path, f"maintenance:\n  - {WINDOW % ''}")])
    with pytest.raises(NotSupportedError) as info:
        sloth_rules.generate(slo)
    assert info.value.field == "maintenance" and "cannot exclude maintenance windows" in info.value.reason


def test_every_generated_base_rule_excludes_runtime_windows_and_no_data_is_guarded() -> None:
    rule_file = yaml.safe_load((artifacts.ALERTS_DIR / "platform-slos-local.rules.yml").read_text())
    base = [r for g in rule_file["groups"] for r in g["rules"]
            if r.get("record") in ("slo:sli_total:rate", "slo:sli_errors:rate")]
    raw_readers = [r for r in base if "slo:sli_total:rate{" not in r["expr"] or "gateway_errors" in r["expr"]
                   or "engine_query_errors" in r["expr"]]
    assert raw_readers and all("slo_maintenance_window_active{" in r["expr"] for r in raw_readers)
    no_data = [r for g in rule_file["groups"] for r in g["rules"] if r.get("alert") == rules.NO_DATA_ALERT]
    assert no_data and all("unless on ()" in r["expr"] for r in no_data)


# --- promtool proofs ----------------------------------------------------------------------------------

def _counter(rate: Any) -> str:
    """Cumulative values, one a second, of a counter growing at ``rate(t)`` per second."""
    total, values = 0, []
    for t in range(END + 1):
        values.append(str(total))
        total += rate(t)
    return " ".join(values)


def _vanished(values: str) -> str:
    """The series scraped by nobody during the outage (the gateway down, say)."""
    return " ".join("_" if OUTAGE[0] <= t < OUTAGE[1] else v for t, v in enumerate(values.split()))


def _inputs(engines_failing: tuple[str, ...], runtime_window: dict[str, str] | None = None,
            vanish: bool = False) -> list[dict[str, str]]:
    series = []
    for engine in ("analytics", "sales"):
        failing = engine in engines_failing
        series.append({"series": f'gateway_request_duration_seconds_count{{engine="{engine}"}}',
                       "values": _counter(lambda _t: 10)})
        series.append({"series": f'gateway_errors_total{{engine="{engine}",error_type="internal"}}',
                       "values": _counter(lambda t, f=failing: 10 if f and OUTAGE[0] <= t < OUTAGE[1] else 0)})
    if vanish:
        series = [{**s, "values": _vanished(s["values"])} for s in series]
    if runtime_window is not None:
        labels = ",".join(f'{k}="{v}"' for k, v in runtime_window.items())
        # Scraped at 1 s while open: present over [60, 180), absent before and after.
        values = " ".join("1" if 60 <= t < 180 else "_" for t in range(END + 1))
        series.append({"series": f'slo_maintenance_window_active{{job="slo-service",{labels}}}', "values": values})
    return series


def _count(expr: str) -> str:
    return f"count({expr})"


def _checks(alert: str, slo: str, engine: str, burns: bool) -> list[dict[str, Any]]:
    """Firing alerts of ``engine`` at every 10 s of the outage and after; its period error ratio at the end."""
    firing = _count(f'ALERTS{{alertname="{alert}",engine="{engine}",alertstate="firing"}}')
    checks: list[dict[str, Any]] = []
    if burns:
        page = firing.replace('alertstate="firing"', 'alertstate="firing",slo_tier="page-fast"')
        checks.append({"expr": page, "eval_time": "100s", "exp_samples": [{"labels": "{}", "value": 1}]})
    else:
        checks += [{"expr": firing, "eval_time": f"{t}s", "exp_samples": []} for t in range(60, END, 10)]
    ratio = f'slo:sli_error:ratio_period{{slo="{slo}",engine="{engine}"}}'
    checks.append({"expr": _count(f"{ratio} > 0" if burns else f"{ratio} == 0"), "eval_time": f"{END - 10}s",
                   "exp_samples": [{"labels": "{}", "value": 1}]})
    return checks


def _run(tmp_path: Path, rule_file: Path, tests: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    doc = {"rule_files": [str(rule_file)], "evaluation_interval": "1s", "tests": tests}
    (tmp_path / "maintenance.test.yml").write_text(yaml.safe_dump(doc, sort_keys=False, width=10_000))
    return promtool("test", "rules", "maintenance.test.yml", cwd=tmp_path)


def _rules(tmp_path: Path, slos: list, name: str) -> Path:
    path = tmp_path / name
    path.write_text(rules.dump(rules.rule_file(rules.generate(slos, rules.Options(profile="local")))))
    return path


@pytest.mark.live  # a promtool suite: seconds, not unit speed
def test_promtool_a_declared_window_burns_no_budget_and_fires_nothing_the_same_errors_outside_do(
        tmp_path: Path) -> None:
    windowed = load_paths([spec(tmp_path, f"maintenance:\n  - {WINDOW % ''}")])[:1]
    scoped = load_paths([spec(tmp_path, own=f"    maintenance:\n      - {WINDOW % ', engine: analytics'}",
                              name="scoped.yaml")])[:1]
    plain = load_paths([spec(tmp_path, name="plain.yaml")])[:1]
    slo = "gw-availability"
    cases = [
        ("whole-SLO window: analytics' outage inside it", windowed, ("analytics",), "analytics", False),
        ("engine window on analytics: analytics' outage inside it", scoped, ("analytics",), "analytics", False),
        ("engine window on analytics: the same outage on sales burns", scoped, ("sales",), "sales", True),
        ("no window: the same outage burns", plain, ("analytics",), "analytics", True),
    ]
    for i, (name, slos, failing, engine, burns) in enumerate(cases):
        rule_file = _rules(tmp_path, slos, f"r{i}.yml")
        run = _run(tmp_path, rule_file, [{"name": name, "interval": "1s", "input_series": _inputs(failing),
                                          "promql_expr_test": _checks(ALERT, slo, engine, burns)}])
        assert run.returncode == 0, f"{name}:\n{run.stdout}{run.stderr}"


@pytest.mark.live
def test_promtool_the_committed_rules_exclude_a_runtime_window_and_its_no_data(tmp_path: Path) -> None:
    """The platform's committed rules, fed the series the SLO service exports for an open window."""
    committed = artifacts.ALERTS_DIR / "platform-slos-local.rules.yml"
    alert, slo = "GatewayAvailabilityBudgetBurn", "gateway-availability"
    engine_window = {"slo": slo, "engine": "analytics"}
    tests = [
        {"name": "runtime window on analytics: its outage burns nothing", "interval": "1s",
         "input_series": _inputs(("analytics",), engine_window),
         "promql_expr_test": _checks(alert, slo, "analytics", burns=False)},
        {"name": "runtime window on analytics: the same outage on sales burns", "interval": "1s",
         "input_series": _inputs(("sales",), engine_window),
         "promql_expr_test": _checks(alert, slo, "sales", burns=True)},
        {"name": "no runtime window: the outage burns", "interval": "1s", "input_series": _inputs(("analytics",)),
         "promql_expr_test": _checks(alert, slo, "analytics", burns=True)},
    ]
    no_data = _count(f'ALERTS{{alertname="{rules.NO_DATA_ALERT}",slo="{slo}",alertstate="firing"}}')
    tests += [
        {"name": "whole-SLO runtime window: series vanishing inside it are not missing data", "interval": "1s",
         "input_series": _inputs((), {"slo": slo}, vanish=True),
         "promql_expr_test": [{"expr": no_data, "eval_time": f"{t}s", "exp_samples": []} for t in range(60, END, 10)]},
        {"name": "no runtime window: series vanishing are missing data", "interval": "1s",
         "input_series": _inputs((), vanish=True),
         "promql_expr_test": [{"expr": no_data, "eval_time": "100s", "exp_samples": [{"labels": "{}", "value": 1}]}]},
    ]
    run = _run(tmp_path, committed, tests)
    assert run.returncode == 0, run.stdout + run.stderr
