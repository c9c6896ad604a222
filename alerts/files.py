"""Where the rule files and their promtool tests are, and whether every alert is tested both ways.

Platform rules live in alerts/; the SLO generator writes its rules under alerts/slo/ or slo/rules/.
A rule file is covered when, for each of its alerts, some test file that loads it has a case where the
alert fires (non-empty ``exp_alerts``) and one where it must stay silent (empty ``exp_alerts``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from alerts.alertmanager import CONFIG_FILES
from alerts.platform import RULE_FILES
from alerts.rule import ALWAYS_FIRING_SEVERITY
from alerts.unittests import TEST_FILES

REPO = Path(__file__).resolve().parent.parent
SLO_RULE_DIRS: tuple[Path, ...] = (REPO / "alerts" / "slo", REPO / "slo" / "rules")


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) or {}


def _yaml_files(directory: Path) -> list[Path]:
    return sorted(p for ext in ("*.yml", "*.yaml") for p in directory.glob(ext)) if directory.is_dir() else []


def _is_test_file(path: Path) -> bool:
    doc = _load(path)
    return isinstance(doc, dict) and "tests" in doc


def slo_rule_files() -> list[Path]:
    return [p for d in SLO_RULE_DIRS for p in _yaml_files(d) if not _is_test_file(p)]


def slo_test_files() -> list[Path]:
    return [p for d in SLO_RULE_DIRS for p in _yaml_files(d) if _is_test_file(p)]


def rule_files() -> list[Path]:
    return [*RULE_FILES.values(), *slo_rule_files()]


def test_files() -> list[Path]:
    return [*TEST_FILES.values(), *slo_test_files()]


def alertmanager_files() -> list[Path]:
    return list(CONFIG_FILES.values())


# pytest must not collect this function when a test module imports it.
test_files.__test__ = False  # type: ignore[attr-defined]


def alert_rules(rule_file: Path) -> list[dict[str, Any]]:
    """The alerting rules of a rule file, as written."""
    return [r for g in _load(rule_file).get("groups", []) for r in g.get("rules", []) if "alert" in r]


def alert_names(rule_file: Path) -> list[str]:
    return list(dict.fromkeys(r["alert"] for r in alert_rules(rule_file)))


@dataclass
class Coverage:
    fires: bool = False
    silent: bool = False
    exact: bool = False  # a firing case states the alerts' labels and annotations (alert_rule_test)


# promql_expr_test over the ALERTS series also proves firing or silence (the SLO generator's tests do).
_ALERTS_SERIES = re.compile(r'ALERTS\{[^}]*alertname="([^"]+)"')


def coverage(rule_files_: Iterable[Path], test_files_: Iterable[Path]) -> dict[tuple[Path, str], Coverage]:
    """(rule file, alert) → which kinds of cases the test files have for it."""
    result = {(f.resolve(), name): Coverage() for f in rule_files_ for name in alert_names(f)}
    for test_file in test_files_:
        doc = _load(test_file)
        loaded = [(test_file.parent / f).resolve() for f in doc.get("rule_files", [])]
        for test in doc.get("tests", []):
            for check in test.get("alert_rule_test", []) or []:
                for entry in _entries(result, loaded, check.get("alertname", "")):
                    expected = check.get("exp_alerts") or []
                    if expected:
                        entry.fires = True
                        entry.exact = entry.exact or all("exp_annotations" in e for e in expected)
                    else:
                        entry.silent = True
            for check in test.get("promql_expr_test", []) or []:
                samples = check.get("exp_samples") or []
                for name in _ALERTS_SERIES.findall(check.get("expr", "")):
                    for entry in _entries(result, loaded, name):
                        if any(float(s.get("value", 0)) > 0 for s in samples):
                            entry.fires = True
                        elif not samples:
                            entry.silent = True
    return result


def _entries(result: dict[tuple[Path, str], Coverage], loaded: list[Path], alert: str) -> list[Coverage]:
    return [result[(f, alert)] for f in loaded if (f, alert) in result]


def always_firing(rule_file: Path) -> set[str]:
    """Alerts that fire by design (the Watchdog): no input can silence them, so none is asked for."""
    return {r["alert"] for r in alert_rules(rule_file)
            if (r.get("labels") or {}).get("severity") == ALWAYS_FIRING_SEVERITY}


def coverage_problems(rule_files_: Iterable[Path], test_files_: Iterable[Path]) -> list[str]:
    problems = []
    rule_files_ = list(rule_files_)
    switches = {(f.resolve(), name) for f in rule_files_ for name in always_firing(f)}
    for (rule_file, alert), cov in coverage(rule_files_, test_files_).items():
        silent = cov.silent or (rule_file, alert) in switches
        missing = [kind for kind, ok in (("a firing case", cov.fires), ("a silent case", silent)) if not ok]
        if missing:
            where = rule_file.relative_to(REPO) if rule_file.is_relative_to(REPO) else rule_file
            problems.append(f"{where}: alert {alert} has no promtool test with {' and no '.join(missing)}")
    return problems
