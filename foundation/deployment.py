"""The deployment config: what a deployment of enginewatch may set, defined once.

Prometheus' cadence per profile (scrape, rule evaluation, service discovery), the dashboard uids and
where on-call's links point (runbooks, Grafana). The alert profiles, the SLO window profiles, the
dashboards' provisioning and the rendered prometheus.yml all read their numbers from here, so a rule's
``for:`` and a window can never assume a cadence that the Prometheus config does not have.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from foundation.durations import format_duration


@dataclass(frozen=True)
class Cadence:
    """How often Prometheus scrapes, evaluates rules and re-reads discovery files, in seconds."""

    name: str
    scrape_interval: int
    scrape_timeout: int
    evaluation_interval: int
    discovery_refresh: int
    #: Prometheus 2.42's discovery manager hands new targets to the scrape loop at most every 5 s: a pod
    #: that just started is unscraped for up to this long after its discovery file changes.
    discovery_delay: int = 5

    def prometheus(self) -> dict[str, str]:
        """The same cadence in prometheus.yml's spelling."""
        return {"scrape_interval": format_duration(self.scrape_interval),
                "scrape_timeout": format_duration(self.scrape_timeout),
                "evaluation_interval": format_duration(self.evaluation_interval),
                "refresh_interval": format_duration(self.discovery_refresh)}


CADENCES: dict[str, Cadence] = {
    # The local stack and tests: seconds-long chaos faults must show up within a second or two.
    "local": Cadence("local", scrape_interval=1, scrape_timeout=1, evaluation_interval=1, discovery_refresh=1),
    # A production-like cadence, for configurations deployed elsewhere.
    "production": Cadence("production", scrape_interval=15, scrape_timeout=10, evaluation_interval=15,
                          discovery_refresh=30),
}


def cadence(name: str) -> Cadence:
    try:
        return CADENCES[name]
    except KeyError:
        raise ValueError(f"unknown deployment profile {name!r}; known: {', '.join(CADENCES)}") from None


# Dashboard uids, stable: bookmarks, the dashboards' own links and the alerts' dashboard_url use them.
OVERVIEW = "enginewatch-overview"
QUERY_CORE = "enginewatch-query-core"
GATEWAY = "enginewatch-gateway"
LIFECYCLE = "enginewatch-lifecycle"
SLOS = "enginewatch-slos"
DASHBOARD_UIDS: tuple[str, ...] = (OVERVIEW, QUERY_CORE, GATEWAY, LIFECYCLE, SLOS)

#: Alert labels that are also dashboard template variables (var-engine, var-cluster).
DASHBOARD_VARIABLES: tuple[str, ...] = ("engine", "cluster")

DEFAULT_RUNBOOK_BASE_URL = "https://github.com/enginewatch/enginewatch/blob/main/runbooks"
DEFAULT_GRAFANA_URL = "http://127.0.0.1:3000"
DEFAULT_PROMETHEUS_URL = "http://127.0.0.1:9090"


@dataclass(frozen=True)
class Links:
    """Where an alert or a dashboard points on-call: its runbook, and the dashboard of its signal."""

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
