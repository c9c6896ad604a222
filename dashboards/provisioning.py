"""Writing the dashboards for Grafana: dashboard JSON plus the provisioning files that load it.

``build(out)`` lays out a directory that Grafana can be pointed at::

    out/dashboards/<uid>.json
    out/provisioning/datasources/prometheus.yaml   # the Prometheus data source
    out/provisioning/dashboards/enginewatch.yaml   # a file provider reading out/dashboards

dashboards/json/ holds the same dashboard JSON, committed; ``stale()`` says when it no longer matches
the code (tests/test_dashboards_provisioning.py fails then).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from dashboards import catalog
from dashboards.links import DEFAULT_RUNBOOK_BASE_URL, TAG
from dashboards.settings import Settings
from foundation.deployment import DEFAULT_PROMETHEUS_URL, cadence
from foundation.durations import PATTERN as DURATION_PATTERN
from foundation.durations import format_duration
from slo.windows import PROFILES as SLO_PROFILES

COMMITTED_DIR = Path(__file__).resolve().parent / "json"
DATASOURCE_NAME = "Prometheus"
DATASOURCE_UID = "prometheus"
# A deployment elsewhere scrapes at the production cadence; `enginewatch up` passes the local one.
DEFAULT_SCRAPE_INTERVAL = format_duration(cadence("production").scrape_interval)


class BuildError(ValueError):
    """Options that cannot make a working Grafana setup."""


@dataclass(frozen=True)
class Options:
    prometheus_url: str = DEFAULT_PROMETHEUS_URL
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL
    #: Prometheus' scrape interval. Grafana derives $__rate_interval from it (at least four scrapes),
    #: so it must match the Prometheus the data source points at.
    scrape_interval: str = DEFAULT_SCRAPE_INTERVAL
    #: Where Grafana will find the dashboard JSON, when not where it was written (a container mount).
    dashboards_path: str | None = None
    #: The window profile the SLO rules were generated with ("local" under enginewatch up).
    slo_profile: str | None = None

    @property
    def settings(self) -> Settings:
        return Settings(runbook_base_url=self.runbook_base_url, slo_profile=self.slo_profile)

    def validate(self) -> None:
        for what, url in (("Prometheus URL", self.prometheus_url), ("runbook base URL", self.runbook_base_url)):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise BuildError(f"{what} {url!r} is not an http(s) URL with a host")
        if not re.fullmatch(DURATION_PATTERN, self.scrape_interval) or not self.scrape_interval:
            raise BuildError(f"scrape interval {self.scrape_interval!r} is not a Prometheus duration such as 15s")
        if self.slo_profile is not None and self.slo_profile not in SLO_PROFILES:
            raise BuildError(f"unknown SLO window profile {self.slo_profile!r}; known: {', '.join(SLO_PROFILES)}")


def write_json(directory: Path, settings: Settings | None = None) -> list[Path]:
    """One ``<uid>.json`` per dashboard in ``directory``; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for model in catalog.models(settings):
        path = directory / catalog.filename(model)
        path.write_text(catalog.dump(model), encoding="utf-8")
        written.append(path)
    return written


def datasource_provisioning(options: Options) -> dict[str, object]:
    return {"apiVersion": 1, "datasources": [{
        "name": DATASOURCE_NAME, "uid": DATASOURCE_UID, "type": "prometheus", "access": "proxy",
        "url": options.prometheus_url, "isDefault": True, "editable": False,
        "jsonData": {"timeInterval": options.scrape_interval, "httpMethod": "POST"},
    }]}


def dashboard_provisioning(dashboards_path: str) -> dict[str, object]:
    return {"apiVersion": 1, "providers": [{
        "name": TAG, "orgId": 1, "folder": "Enginewatch", "type": "file",
        # Generated from code: edits in the UI would be lost at the next build, so refuse them.
        "disableDeletion": True, "allowUiUpdates": False, "updateIntervalSeconds": 30,
        "options": {"path": dashboards_path, "foldersFromFilesStructure": False},
    }]}


def build(out_dir: Path, options: Options | None = None) -> list[Path]:
    """Dashboard JSON and Grafana provisioning files under ``out_dir``; returns the files written."""
    options = options or Options()
    options.validate()
    if out_dir.exists() and not out_dir.is_dir():
        raise BuildError(f"{out_dir} exists and is not a directory")
    dashboards_dir = out_dir / "dashboards"
    written = write_json(dashboards_dir, options.settings)
    provisioning = {
        out_dir / "provisioning" / "datasources" / "prometheus.yaml": datasource_provisioning(options),
        out_dir / "provisioning" / "dashboards" / "enginewatch.yaml":
            dashboard_provisioning(options.dashboards_path or str(dashboards_dir.resolve())),
    }
    for path, content in provisioning.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        written.append(path)
    return written


def stale(directory: Path = COMMITTED_DIR) -> list[str]:
    """Names of the files in ``directory`` that differ from freshly generated dashboards: changed,
    missing or left over. Empty when the committed JSON is up to date."""
    fresh = {catalog.filename(m): catalog.dump(m) for m in catalog.models()}
    committed = {p.name: p.read_text(encoding="utf-8") for p in directory.glob("*.json")} if directory.is_dir() else {}
    return sorted(name for name in fresh.keys() | committed.keys() if fresh.get(name) != committed.get(name))
