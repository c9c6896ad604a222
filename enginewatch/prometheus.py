"""Prometheus for the local stack: a rendered prometheus.yml and the Debian binary as our child process.

Engine nodes come and go, so they are discovered through file_sd files that the orchestrator writes
(with the topology labels, as Kubernetes SD would attach them in production); the gateway, orchestrator
and SLO service are fixed for the life of the stack, so they are static targets. So are Prometheus
itself and Alertmanager: the meta alerts (alerts/meta.py) judge the alerting pipeline by their own
series. A chaos run serves ``chaos_fault_active`` from whichever process runs it, on a port of its own:
it announces itself in a file_sd directory of its own (chaos/scrape.py), which it reads from this
configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from enginewatch.binary_server import BinaryServer, ServerError
from exporters.contract import (
    JOB_ALERTMANAGER,
    JOB_CHAOS,
    JOB_GATEWAY,
    JOB_NODE,
    JOB_ORCHESTRATOR,
    JOB_PROMETHEUS,
    JOB_SLO_SERVICE,
)
from foundation.deployment import cadence
from foundation.process import LOOPBACK, write_atomic
from foundation.promtool import ToolMissing
from foundation.promtool import find as _find

#: Jobs with a fixed address, in the order they appear in the configuration.
STATIC_JOBS: tuple[str, ...] = (JOB_GATEWAY, JOB_ORCHESTRATOR, JOB_SLO_SERVICE, JOB_PROMETHEUS, JOB_ALERTMANAGER)
FILE_SD_DIR = "file_sd"
#: Where chaos runs announce their /metrics (one file per process; none while no experiment runs).
CHAOS_SD_DIR = "chaos_sd"


def _address(target: str) -> tuple[str, str, str]:
    """(host:port, scheme, metrics path) from ``host:port`` or a URL such as ``http://127.0.0.1:8000``."""
    if "://" not in target:
        return target, "http", "/metrics"
    url = urlsplit(target)
    path = url.path if url.path not in ("", "/") else "/metrics"
    return url.netloc, url.scheme, path


def _static_job(job: str, target: str) -> dict[str, Any]:
    address, scheme, path = _address(target)
    return {"job_name": job, "scheme": scheme, "metrics_path": path,
            "static_configs": [{"targets": [address]}]}


def render_config(state_dir: Path, *, profile: str = "local", targets: Mapping[str, str] | None = None,
                  rule_files: Sequence[Path] = (), alertmanager: str | None = None,
                  external_labels: Mapping[str, str] | None = None) -> str:
    """prometheus.yml for the stack.

    ``targets`` maps job names (exporters.contract JOB_*) to ``host:port`` or a URL; absent jobs are left
    out. Engine nodes are always discovered from ``STATE_DIR/file_sd/*.json``, chaos runs from
    ``STATE_DIR/chaos_sd/*.json``. ``alertmanager`` is the Alertmanager's ``host:port`` or URL.
    """
    p = cadence(profile).prometheus()
    unknown = set(targets or {}) - set(STATIC_JOBS)
    if unknown:
        raise ValueError(f"unknown scrape jobs {sorted(unknown)}; expected some of {list(STATIC_JOBS)}")
    state = Path(state_dir).resolve()
    scrape_configs: list[dict[str, Any]] = [{
        "job_name": job,
        "file_sd_configs": [{"files": [str(state / sd_dir / "*.json")], "refresh_interval": p["refresh_interval"]}],
    } for job, sd_dir in ((JOB_NODE, FILE_SD_DIR), (JOB_CHAOS, CHAOS_SD_DIR))]
    scrape_configs += [_static_job(job, (targets or {})[job]) for job in STATIC_JOBS if job in (targets or {})]
    config: dict[str, Any] = {
        "global": {"scrape_interval": p["scrape_interval"], "evaluation_interval": p["evaluation_interval"],
                   "scrape_timeout": p["scrape_timeout"]},
        "rule_files": [str(Path(f).resolve()) for f in rule_files],
        "scrape_configs": scrape_configs,
    }
    if external_labels:
        config["global"]["external_labels"] = dict(external_labels)
    if alertmanager:
        address, scheme, _ = _address(alertmanager)
        config["alerting"] = {"alertmanagers": [
            {"scheme": scheme, "api_version": "v2", "static_configs": [{"targets": [address]}]}]}
    return str(yaml.safe_dump(config, sort_keys=False))


class PrometheusServer(BinaryServer):
    """/usr/bin/prometheus on loopback with a generated configuration, started and stopped by PID.

    ``config_dir`` receives prometheus.yml and prometheus.log; the TSDB lives in ``data_dir``
    (default ``config_dir/data``). Change ``targets``/``rule_files``/``alertmanager`` and call
    ``reload()`` to apply; file_sd changes need no reload (Prometheus watches the files).
    """

    name = "prometheus"

    def __init__(self, config_dir: Path, state_dir: Path, *, data_dir: Path | None = None,
                 profile: str = "local", targets: Mapping[str, str] | None = None,
                 rule_files: Sequence[Path] = (), alertmanager: str | None = None,
                 retention: str = "2d", binary: Path | None = None,
                 extra_args: Sequence[str] = (), self_scrape: bool = False) -> None:
        self.config_dir = Path(config_dir)
        super().__init__(binary or locate("prometheus"), self.config_dir / "prometheus.log")
        self.state_dir = Path(state_dir)
        self.data_dir = Path(data_dir) if data_dir else self.config_dir / "data"
        self.profile = profile
        self.targets: dict[str, str] = dict(targets or {})
        self.rule_files: list[Path] = list(rule_files)
        self.alertmanager = alertmanager
        self.retention = retention
        self.extra_args = list(extra_args)
        # Its own port is only known once picked (each start attempt), so the job is added then.
        self.self_scrape = self_scrape

    @property
    def config_path(self) -> Path:
        return self.config_dir / "prometheus.yml"

    def write_config(self) -> Path:
        for sd_dir in (FILE_SD_DIR, CHAOS_SD_DIR):
            (self.state_dir / sd_dir).mkdir(parents=True, exist_ok=True)
        targets = dict(self.targets)
        if self.self_scrape:
            targets[JOB_PROMETHEUS] = f"{LOOPBACK}:{self.port}"
        write_atomic(self.config_path, render_config(
            self.state_dir, profile=self.profile, targets=targets, rule_files=self.rule_files,
            alertmanager=self.alertmanager))
        return self.config_path

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.write_config()

    def argv(self) -> list[str]:
        return [
            str(self.binary),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--storage.tsdb.retention.time={self.retention}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            f"--web.external-url={self.url}/",  # alert generatorURLs then point at this instance
            "--web.enable-lifecycle",  # POST /-/reload
            *self.extra_args,
        ]

    def reload(self, timeout: float = 10.0) -> None:
        """Re-render the configuration and apply it; raises ServerError if Prometheus rejects it.

        A rejected configuration leaves Prometheus running on the previous one.
        """
        self.write_config()
        try:
            r = httpx.post(f"{self.url}/-/reload", timeout=timeout)
        except httpx.HTTPError as e:
            raise ServerError(f"prometheus at {self.url} did not answer the reload: {e}") from None
        if r.status_code != 200:
            raise ServerError(f"prometheus rejected the configuration: {r.text.strip()}")


def locate(name: str) -> Path:
    """The binary's path; a missing one is left for the server's start to report as not found."""
    try:
        return _find(name)
    except ToolMissing:
        return Path("/usr/bin") / name
