"""Where an alert points on-call: its runbook and the dashboard that shows its signal.

Both bases are configurable, because a deployment serves runbooks and Grafana at its own addresses;
the defaults point at runbooks/<AlertName>.md in the repository and at a Grafana on loopback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_RUNBOOK_BASE_URL = "https://github.com/enginewatch/enginewatch/blob/main/runbooks"
DEFAULT_GRAFANA_URL = "http://127.0.0.1:3000"

# Dashboard uids, stable: bookmarks, the dashboards' own links and these annotations use them.
OVERVIEW = "enginewatch-overview"
QUERY_CORE = "enginewatch-query-core"
GATEWAY = "enginewatch-gateway"
LIFECYCLE = "enginewatch-lifecycle"
SLOS = "enginewatch-slos"
DASHBOARD_UIDS: tuple[str, ...] = (OVERVIEW, QUERY_CORE, GATEWAY, LIFECYCLE, SLOS)

#: Alert labels that are also dashboard template variables (var-engine, var-cluster).
DASHBOARD_VARIABLES: tuple[str, ...] = ("engine", "cluster")


@dataclass(frozen=True)
class Links:
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL
    grafana_url: str = DEFAULT_GRAFANA_URL

    def runbook(self, alert: str) -> str:
        return f"{self.runbook_base_url.rstrip('/')}/{alert}.md"

    def dashboard(self, uid: str, labels: Iterable[str] = ()) -> str:
        """A templated URL: the alert's own engine/cluster preselected in the dashboard's variables."""
        if uid not in DASHBOARD_UIDS:
            raise ValueError(f"unknown dashboard uid {uid!r}; known: {DASHBOARD_UIDS}")
        params = [f"var-{label}={{{{ $labels.{label} }}}}" for label in DASHBOARD_VARIABLES if label in labels]
        return f"{self.grafana_url.rstrip('/')}/d/{uid}" + ("?" + "&".join(params) if params else "")


def runbook_name(url: str) -> str | None:
    """``EngineNodeDown`` from ``.../runbooks/EngineNodeDown.md``; None when the URL names no runbook."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    if "/runbooks/" not in path or not path.endswith(".md"):
        return None
    return path.rsplit("/", 1)[1].removesuffix(".md")
