"""Links out of a dashboard: to the other dashboards (by tag and by uid) and to the runbooks.

The uids are stable: bookmarks, alert annotations and the links between dashboards use them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafanalib.core import DashboardLink, DataLink

from dashboards import promql as q
from dashboards.variables import DATASOURCE_VAR
from foundation import deployment

TAG = "enginewatch"

# Defined once, in the deployment config: an alert's dashboard_url and the dashboard agree.
OVERVIEW_UID = deployment.OVERVIEW
QUERY_CORE_UID = deployment.QUERY_CORE
GATEWAY_UID = deployment.GATEWAY
LIFECYCLE_UID = deployment.LIFECYCLE
SLOS_UID = deployment.SLOS

# Where the runbooks/ directory of the repository is browsable, as the alerts' runbook_url says; a
# deployment points both at its own copy (enginewatch dashboards build --runbook-base-url).
DEFAULT_RUNBOOK_BASE_URL = deployment.DEFAULT_RUNBOOK_BASE_URL

# Carry the time range and the selection over, so a jump keeps looking at the same thing.
_CARRY = "&".join(["${__url_time_range}", *(f"${{{v}:queryparam}}" for v in (DATASOURCE_VAR, *q.SCOPE))])


def runbook_url(base_url: str, alert: str) -> str:
    # The alerts' own spelling of the URL, so a dashboard link and an alert's runbook_url agree.
    return deployment.Links(runbook_base_url=base_url).runbook(alert)


def dashboard_url(uid: str) -> str:
    return f"/d/{uid}?{_CARRY}"


@dataclass(frozen=True)
class Links:
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL

    def header(self, runbooks: Sequence[str]) -> list[DashboardLink]:
        """A dropdown of every enginewatch dashboard, then one link per runbook."""
        dropdown = DashboardLink(type="dashboards", tags=[TAG], asDropdown=True, title="Dashboards",
                                 includeVars=True, keepTime=True)
        return [dropdown, *(
            DashboardLink(type="link", title=f"Runbook: {alert}", uri=runbook_url(self.runbook_base_url, alert),
                          icon="doc", targetBlank=True, keepTime=False,
                          tooltip=f"What to do when {alert} fires")
            for alert in runbooks
        )]

    def runbook(self, alert: str) -> DataLink:
        return DataLink(title=f"Runbook: {alert}", linkUrl=runbook_url(self.runbook_base_url, alert),
                        isNewTab=True)

    @staticmethod
    def dashboard(uid: str, title: str) -> DataLink:
        return DataLink(title=title, linkUrl=dashboard_url(uid))
