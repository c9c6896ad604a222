"""Runbook links point at runbooks/<AlertName>.md files of this repository.

runbooks/ and alerts/ are written alongside the dashboards; until runbooks/ holds any markdown the
file check is skipped, and from then on a dashboard linking to a runbook that does not exist fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import dashboards
from dashboards import alert_names, links, slo_series
from foundation import deployment

RUNBOOKS = Path(__file__).resolve().parents[1] / "runbooks"


def _linked_alerts() -> set[str]:
    urls = [link["url"] for m in dashboards.models() for link in m["links"]]
    urls += [link["url"] for m in dashboards.models() for p in m["panels"] for link in p.get("links") or []]
    return {name for u in urls if u.startswith(links.DEFAULT_RUNBOOK_BASE_URL)
            and (name := deployment.runbook_name(u))}


def test_only_named_alerts_are_linked() -> None:
    slo_alerts = {v.slo.alert_name for v in slo_series.views()}
    linked = _linked_alerts()
    assert linked and linked <= set(alert_names.all_names()) | slo_alerts
    assert slo_alerts <= linked  # every SLO's burn alert has its runbook one click away
    assert set(alert_names.all_names()) <= linked  # and so has every platform alert


def test_the_alerts_link_to_dashboards_that_exist() -> None:
    assert set(deployment.DASHBOARD_UIDS) == {m["uid"] for m in dashboards.models()}


def test_every_linked_runbook_exists() -> None:
    if not list(RUNBOOKS.glob("*.md")):
        pytest.skip("runbooks/ holds no runbook yet")
    missing = sorted(a for a in _linked_alerts() if not (RUNBOOKS / f"{a}.md").is_file())
    assert not missing, f"dashboards link to runbooks that do not exist: {missing} (dashboards/alert_names.py)"
