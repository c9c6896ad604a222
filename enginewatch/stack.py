"""The local stack: platform (orchestrator, pods, gateway) plus Prometheus, Alertmanager, SLO service,
and (``StackOptions.logs``) a Loki-API log store with a shipper tailing every component's JSON log.

One object starts the components in dependency order and stops them in reverse, by PID, whatever
happened in between; `enginewatch up`, `enginewatch gameday` and the tests all use it.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from engines.orchestrator import Orchestrator, load_fleet
from engines.storage import ensure_storage
from enginewatch.prometheus import CHAOS_SD_DIR, PrometheusServer
from exporters.contract import (
    JOB_ALERTMANAGER,
    JOB_CHAOS,
    JOB_GATEWAY,
    JOB_NODE,
    JOB_ORCHESTRATOR,
    JOB_SLO_SERVICE,
)
from foundation import runstate
from foundation.logs import json_handler
from foundation.process import ManagedProcess, python_module, wait_until, write_atomic
from foundation.prometheus import PrometheusClient
from foundation.promql import UP, sel

DEFAULT_FLEET = Path(__file__).resolve().parent.parent / "engines" / "fleet.yaml"


def alerting_files(profile: str) -> tuple[list[Path], list[Path], Path | None]:
    """(SLO rules, platform rules, Alertmanager configuration) of a profile, as committed under alerts/."""
    from alerts.alertmanager import CONFIG_FILES
    from alerts.files import slo_rule_files
    from alerts.platform import RULE_FILES

    slo_rules = [p for p in slo_rule_files() if profile in p.name and p.exists()]
    return slo_rules, [RULE_FILES[profile]], CONFIG_FILES.get(profile)


@dataclass
class StackOptions:
    fleet: Path = DEFAULT_FLEET
    state_dir: Path | None = None  # default: a fresh temporary directory, removed at stop
    profile: str = "local"
    rule_files: Sequence[Path] = ()  # loaded once every target is scraped
    # Loaded with Prometheus itself, before the engines start: SLO rules, which must see the boot (engine
    # starts are an SLO) and whose alerts need traffic, so that an empty platform cannot page.
    boot_rule_files: Sequence[Path] = ()
    alertmanager_config: Path | None = None  # None: no Alertmanager (unless ``alerting``)
    alerting: bool = False  # load the profile's platform + SLO rules and start Alertmanager with its routing
    slo_service: bool = False
    node_env: dict[str, str] = field(default_factory=dict)  # e.g. OTEL_* for tracing
    gateway_env: dict[str, str] = field(default_factory=dict)
    gateway_args: Sequence[str] = ()
    write_run_state: bool = True
    #: Collect every component's JSON log into a log store speaking Loki's API (enginewatch.logstore).
    logs: bool = False


class Stack:
    """Start with ``with Stack(options) as stack:``; every process is ours and is stopped at exit."""

    def __init__(self, options: StackOptions | None = None,
                 on_step: Callable[[str], None] | None = None) -> None:
        self.options = options or StackOptions()
        self.on_step = on_step or (lambda _msg: None)
        self._own_state_dir = self.options.state_dir is None
        self.state_dir = Path(self.options.state_dir or tempfile.mkdtemp(prefix="enginewatch-"))
        self.admin_token = secrets.token_urlsafe(24)
        self.fleet = load_fleet(self.options.fleet)
        self.orchestrator: Orchestrator | None = None
        self.gateway: ManagedProcess | None = None
        self.gateway_url = ""
        self.prometheus: PrometheusServer | None = None
        self.alertmanager = None  # enginewatch.alertmanager.AlertmanagerServer when configured
        self.webhooks = None  # enginewatch.alertmanager.WebhookSink: the receivers of the committed routing
        self.slo_service: ManagedProcess | None = None
        self.slo_service_url = ""
        self.logstore: ManagedProcess | None = None
        self.loki_url = ""
        self.shipper = None  # enginewatch.logship.LogShipper when logs are collected
        self._orchestrator_log: logging.Handler | None = None
        self._lock = runstate.StackLock() if self.options.write_run_state else None

    # --- lifecycle -------------------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> Stack:
        if self.options.alerting:
            slo_rules, platform_rules, config = alerting_files(self.options.profile)
            self.options.boot_rule_files = [*self.options.boot_rule_files, *slo_rules]
            self.options.rule_files = [*self.options.rule_files, *platform_rules]
            self.options.alertmanager_config = self.options.alertmanager_config or config
        if self._lock:
            self._lock.acquire()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.on_step("object storage")
        storage = ensure_storage()
        token_file = self.state_dir / "admin-token"
        write_atomic(token_file, self.admin_token)
        token_file.chmod(0o600)
        if self.options.logs:
            self.on_step("log store")
            self._start_logs()

        self.on_step("orchestrator")
        self.orchestrator = Orchestrator(self.fleet, self.state_dir / "orchestrator", storage_dir=storage,
                                         admin_token=self.admin_token, node_env=self.options.node_env)
        orchestrator_url = self.orchestrator.serve()

        if self.options.alertmanager_config:
            self.on_step("alertmanager")
            from alerts.alertmanager import CONFIG_FILES
            from enginewatch.alertmanager import AlertmanagerServer

            config = self.options.alertmanager_config
            if self.options.alerting and config in CONFIG_FILES.values():
                config = self._routing_with_receivers(config)
            self.alertmanager = AlertmanagerServer(config, self.state_dir / "alertmanager")
            self.alertmanager.start()

        # Prometheus first, so that it sees the platform boot: the engines' start operations are an SLO.
        self.on_step("prometheus")
        targets = {JOB_ORCHESTRATOR: orchestrator_url}
        if self.alertmanager:
            # Scraped like any target: its notification failures and its own up are meta alerts.
            targets[JOB_ALERTMANAGER] = self.alertmanager.url
        # Platform alert rules come last (see _load_rules): they judge a platform that has finished booting.
        self.prometheus = PrometheusServer(
            self.state_dir / "prometheus", self.orchestrator.file_sd_path.parent.parent,
            profile=self.options.profile, targets=targets,
            rule_files=self.options.boot_rule_files, alertmanager=self.alertmanager.url if self.alertmanager else None,
            self_scrape=True,
        ).start()
        with self.prom() as prom:
            wait_until(lambda: bool(prom.query(f"{sel(UP, job=JOB_ORCHESTRATOR)} == 1")), 15,
                       what="Prometheus to scrape the orchestrator")
        self._announce_chaos()

        self.on_step("engines")
        self.orchestrator.start()

        self.on_step("gateway")
        port_file = self.state_dir / "gateway.port"
        self.gateway = ManagedProcess(
            "gateway",
            python_module("engines.gateway", "--topology", str(self.orchestrator.topology_path),
                          "--port", "0", "--port-file", str(port_file),
                          "--admin-token-file", str(token_file),
                          "--node-token-file", str(self.orchestrator.node_token_path), *self.options.gateway_args),
            log_path=self.state_dir / "gateway.log", env=self.options.gateway_env,
        ).start()
        wait_until(lambda: port_file.exists() or not self.gateway.alive, 30, what="gateway to listen")  # type: ignore[union-attr]
        if not self.gateway.alive:
            raise RuntimeError(f"gateway exited at start:\n{self.gateway.log_tail()}")
        self.gateway_url = f"http://127.0.0.1:{int(port_file.read_text())}"
        self.orchestrator.attach_gateway(self.gateway_url, self.admin_token)

        self.prometheus.targets[JOB_GATEWAY] = self.gateway_url
        if self.options.slo_service:
            # It reads Prometheus, and Prometheus scrapes it: start it after Prometheus, then add its target.
            self.on_step("SLO service")
            self._start_slo_service()
            self.prometheus.targets[JOB_SLO_SERVICE] = self.slo_service_url
            # Upgrades ask its error-budget gate first (engines/orchestrator/gate.py).
            self.orchestrator.attach_gate(self.slo_service_url)
        self.prometheus.reload()
        self._load_rules()
        if self.options.logs:
            from enginewatch.logship import LogShipper
            from foundation.loki import LokiClient

            self.shipper = LogShipper(LokiClient(self.loki_url), self._log_sources).start()
        if self.options.write_run_state:
            self.run_state().save()
        return self

    def _load_rules(self) -> None:
        """Load the rules once every target is scraped, so that no alert fires about the boot itself.

        Prometheus 2.42 takes up to 5 s to deliver new file_sd targets; an absent-target alert evaluated
        before that would report a platform that is merely still starting.
        """
        assert self.prometheus is not None and self.orchestrator is not None
        expected = len(self.prometheus.targets) + len([p for p in self.orchestrator.pods() if p.url])
        self.on_step("targets")
        with self.prom() as prom:
            wait_until(lambda: len([t for t in prom.targets() if t.health == "up" and t.job != JOB_CHAOS])
                       >= expected, 30,
                       interval=0.25, what=f"Prometheus to scrape all {expected} targets")
        if self.options.rule_files:
            self.on_step("rules")
            self.prometheus.rule_files = [*self.options.boot_rule_files, *self.options.rule_files]
            self.prometheus.reload()

    def _announce_chaos(self) -> None:
        """Experiments run in this process (a game day, ``chaos run --boot``, tests) serve chaos_fault_active
        from it: announced now, Prometheus discovers it while the platform boots instead of while the
        first experiment waits (see chaos/scrape.py)."""
        from chaos import scrape

        assert self.prometheus is not None
        scrape.shared().register(self.prometheus.state_dir / CHAOS_SD_DIR)

    def _routing_with_receivers(self, committed: Path) -> Path:
        """The committed routing, its placeholder webhooks replaced by a sink of ours that answers them."""
        from alerts import alertmanager as routing
        from alerts.alertmanager import CONFIG_FILES
        from enginewatch.alertmanager import WebhookSink

        profile = next(p for p, path in CONFIG_FILES.items() if path == committed)
        self.webhooks = WebhookSink().start()
        url = self.webhooks.url
        return routing.write(self.state_dir / "alertmanager.yml", f"{url}/page", f"{url}/ticket", profile=profile,
                             watchdog_url=f"{url}/watchdog")

    def _start_logs(self) -> None:
        port_file = self.state_dir / "logstore.port"
        self.logstore = ManagedProcess(
            "logstore", python_module("enginewatch.logstore", "--port", "0", "--port-file", str(port_file)),
            log_path=self.state_dir / "logstore.log").start()
        wait_until(lambda: port_file.exists() or not self.logstore.alive, 30,  # type: ignore[union-attr]
                   what="log store to listen")
        if not self.logstore.alive:
            raise RuntimeError(f"log store exited at start:\n{self.logstore.log_tail()}")
        self.loki_url = f"http://127.0.0.1:{int(port_file.read_text())}"
        # The orchestrator runs in this process: its lines go to a file of their own, shipped like the rest.
        self._orchestrator_log = json_handler("orchestrator", open(self.state_dir / "orchestrator.log", "a"))  # noqa: SIM115
        orchestrator_log = logging.getLogger("engines.orchestrator")
        orchestrator_log.addHandler(self._orchestrator_log)
        orchestrator_log.setLevel(logging.INFO)

    def _log_sources(self) -> dict[Path, dict[str, str]]:
        """Every log file of the stack and its stream labels (pods: their topology, as SD gives metrics)."""
        sources = {self.state_dir / "gateway.log": {"job": JOB_GATEWAY},
                   self.state_dir / "slo-service.log": {"job": JOB_SLO_SERVICE},
                   self.state_dir / "orchestrator.log": {"job": JOB_ORCHESTRATOR}}
        if self.orchestrator is not None:
            logs = self.orchestrator.state_dir / "logs"
            for p in self.orchestrator.pods():
                sources[logs / f"{p.pod}.log"] = {"job": JOB_NODE, "engine": p.engine, "cluster": p.cluster,
                                                  "node": p.node, "pod": p.pod}
        return sources

    def _stop_logs(self) -> None:
        if self.shipper is not None:
            self.shipper.stop()  # the last lines (a drain's, a stop's) are shipped before the store goes
            self.shipper.loki.close()
            self.shipper = None
        if self._orchestrator_log is not None:
            logging.getLogger("engines.orchestrator").removeHandler(self._orchestrator_log)
            self._orchestrator_log.close()
            self._orchestrator_log = None
        if self.logstore is not None:
            self.logstore.stop(grace=5)

    def _start_slo_service(self) -> None:
        port_file = self.state_dir / "slo-service.port"
        self.slo_service = ManagedProcess(
            "slo-service",
            python_module("slo.service", "--port", "0", "--port-file", str(port_file),
                          "--prometheus", self.prometheus_url,
                          # Maintenance windows silence their alerts there.
                          *(["--alertmanager", self.alertmanager.url] if self.alertmanager else [])),
            log_path=self.state_dir / "slo-service.log",
        ).start()
        wait_until(lambda: port_file.exists() or not self.slo_service.alive, 30,  # type: ignore[union-attr]
                   what="SLO service to listen")
        if not self.slo_service.alive:
            raise RuntimeError(f"SLO service exited at start:\n{self.slo_service.log_tail()}")
        self.slo_service_url = f"http://127.0.0.1:{int(port_file.read_text())}"

    def restart_gateway(self, grace: float = 5.0) -> tuple[int | None, int | None]:
        """Stop the gateway and start it again on the same port (chaos: restart_gateway).

        Same port, so clients, Prometheus and the orchestrator keep their URL. Returns (old, new) PID.
        """
        assert self.gateway is not None and self.orchestrator is not None, "the stack is not started"
        old = self.gateway
        port = int(self.gateway_url.rsplit(":", 1)[1])
        old.stop(grace=grace)
        port_file = self.state_dir / "gateway.port"
        port_file.unlink(missing_ok=True)
        self.gateway = ManagedProcess(
            "gateway",
            python_module("engines.gateway", "--topology", str(self.orchestrator.topology_path),
                          "--port", str(port), "--port-file", str(port_file),
                          "--admin-token-file", str(self.state_dir / "admin-token"),
                          "--node-token-file", str(self.orchestrator.node_token_path), *self.options.gateway_args),
            log_path=self.state_dir / "gateway.log", env=self.options.gateway_env,
        ).start()
        wait_until(lambda: port_file.exists() or not self.gateway.alive, 30, what="gateway to listen")  # type: ignore[union-attr]
        if not self.gateway.alive:
            raise RuntimeError(f"gateway exited at restart:\n{self.gateway.log_tail()}")
        return old.pid, self.gateway.pid

    def stop(self) -> None:
        """Reverse order; each step runs even when an earlier one failed."""
        steps: list[Callable[[], object]] = []
        if self.prometheus:
            steps.append(lambda: self.prometheus.stop())  # type: ignore[union-attr]
        if self.alertmanager:
            steps.append(lambda: self.alertmanager.stop())  # type: ignore[attr-defined]
        if self.webhooks:
            steps.append(self.webhooks.stop)
        if self.slo_service:
            steps.append(lambda: self.slo_service.stop(grace=5))  # type: ignore[union-attr]
        if self.gateway:
            steps.append(lambda: self.gateway.stop(grace=5))  # type: ignore[union-attr]
        if self.orchestrator:
            steps.append(self.orchestrator.stop)
        if self.options.logs:
            steps.append(self._stop_logs)
        for step in steps:
            with contextlib.suppress(Exception):
                step()
        if self._lock:
            self._lock.release()
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    # --- views -----------------------------------------------------------------------------------------

    @property
    def prometheus_url(self) -> str:
        return self.prometheus.url if self.prometheus else ""

    def prom(self) -> PrometheusClient:
        return PrometheusClient(self.prometheus_url)

    @property
    def engines(self) -> list[str]:
        return [e.name for e in self.fleet.engines]

    def pids(self) -> list[int]:
        """Every process of the stack: for tests proving that nothing is left behind."""
        pids = [p.pid for p in (self.gateway, self.slo_service, self.logstore) if p and p.pid]
        pids += [s.pid for s in (self.prometheus, self.alertmanager) if s and s.pid]
        if self.orchestrator:
            pids += [p["pid"] for p in self.orchestrator_pods() if p.get("pid")]
        return pids

    def orchestrator_pods(self) -> list[dict]:
        assert self.orchestrator is not None
        return [p.to_dict() if hasattr(p, "to_dict") else dict(p.__dict__) for p in self.orchestrator.pods()]

    def run_state(self) -> runstate.RunState:
        import os

        return runstate.RunState(
            pid=os.getpid(), state_dir=str(self.state_dir), gateway=self.gateway_url,
            orchestrator=self.orchestrator.url or "" if self.orchestrator else "",
            prometheus=self.prometheus_url,
            alertmanager=self.alertmanager.url if self.alertmanager else "",
            slo_service=self.slo_service_url, admin_token=self.admin_token, engines=self.engines,
            loki=self.loki_url,
        )
