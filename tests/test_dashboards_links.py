"""Runbook links point at runbooks/<AlertName>.md files of this repository.

runbooks/ and alerts/ are written alongside the dashboards; until runbooks/ holds any markdown the
file check is skipped, and from then on a dashboard linking to a runbook that does not exist fails.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import dashboards
from dashboards import alert_names, links, slo_series

RUNBOOKS = Path(__file__).resolve().parents[1] / "runbooks"


def _linked_alerts() -> set[str]:
    urls = [link["url"] for m in dashboards.models() for link in m["links"]]
    urls += [link["url"] for m in dashboards.models() for p in m["panels"] for link in p.get("links") or []]
    base = re.escape(links.DEFAULT_RUNBOOK_BASE_URL)
    return {m.group(1) for u in urls if (m := re.fullmatch(base + r"([A-Za-z]+)\.md", u))}


def test_only_named_alerts_are_linked() -> None:
    slo_alerts = {v.slo.alert_name for v in slo_series.views()}
    linked = _linked_alerts()
    assert linked and linked <= set(alert_names.ALL) | slo_alerts
    assert slo_alerts <= linked  # every SLO's burn alert has its runbook one click away


def test_every_linked_runbook_exists() -> None:
    if not list(RUNBOOKS.glob("*.md")):
        pytest.skip("runbooks/ holds no runbook yet")
    missing = sorted(a for a in _linked_alerts() if not (RUNBOOKS / f"{a}.md").is_file())
    assert not missing, f"dashboards link to runbooks that do not exist: {missing} (dashboards/alert_names.py)"
