"""The promtool unit-test files of the platform alerts, rendered from alerts/cases.py.

One file per profile, next to the rule file it tests (promtool resolves ``rule_files`` relative to the
test file). ``python -m alerts`` writes them; a test fails when they are stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alerts import meta_cases
from alerts import platform as pl
from alerts.cases import Case, cases, expected_dashboard_url
from alerts.profiles import get_profile
from alerts.rule import AlertRule
from alerts.yamlfmt import dump
from foundation.deployment import Links
from foundation.durations import format_duration

TEST_FILES: dict[str, Path] = {
    "local": pl.HERE / "platform.test.yml",
    "production": pl.HERE / "platform.production.test.yml",
}
HEADER = "# Generated from alerts/cases.py by `python -m alerts`. DO NOT EDIT.\n"


def _exp_alert(rule: AlertRule, links: Links, labels: dict[str, str], description: str,
               severity: str | None) -> dict[str, Any]:
    return {
        "exp_labels": {**labels, "severity": severity or rule.severity, **rule.labels},
        "exp_annotations": {
            "summary": rule.summary,
            "description": description,
            "runbook_url": links.runbook(rule.name),
            "dashboard_url": expected_dashboard_url(links, rule.dashboard, labels),
        },
    }


def _test(case: Case, rule: AlertRule, interval: int, links: Links) -> dict[str, Any]:
    verdict = "fires" if case.fires else "stays silent"
    checks: list[dict[str, Any]] = []
    if case.quiet_at is not None:
        checks.append({"eval_time": _at(case.quiet_at), "alertname": case.alert, "exp_alerts": []})
    checks.append({
        "eval_time": _at(case.eval_at),
        "alertname": case.alert,
        "exp_alerts": [_exp_alert(rule, links, e.labels, e.description, e.severity) for e in case.expected],
    })
    return {
        "name": f"{case.alert} {verdict}: {case.title}",
        "interval": format_duration(interval),
        "input_series": case.input_series,
        "alert_rule_test": checks,
    }


def _at(seconds: int) -> str:
    return format_duration(seconds) if seconds > 0 else "0s"


def render(profile: str = "local", links: Links | None = None) -> str:
    links = links or Links()
    p = get_profile(profile)
    by_name = {r.name: r for r in pl.rules(p)}
    document = {
        "rule_files": [pl.RULE_FILES[profile].name],
        "evaluation_interval": format_duration(p.interval),
        "tests": [_test(case, by_name[case.alert], p.interval, links) for case in [*cases(p), *meta_cases.cases(p)]],
    }
    return dump(document, HEADER)
