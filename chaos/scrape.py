"""How Prometheus gets ``chaos_fault_active``: the process that runs an experiment is its exporter.

The runner lives in the CLI's process (or a game day's, or a test's), not in a server Prometheus
knows of, so it serves the gauge itself on 127.0.0.1, at a port the kernel picks, and tells each
Prometheus a run reports to where that is: a file_sd file in the directory of that Prometheus'
``chaos`` job, read from the configuration the Prometheus runs on (so the CLI needs no path of the
stack's, and a Prometheus without the job is told nothing). The file is removed when the process
exits; one left by a process that died without exiting is removed by the next announcement, and
until then its target is merely down, which no alert judges.

One exporter per process: the experiments of a game day (or of a test session) share it, and pay
Prometheus' discovery delay, up to 5 s, once.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from chaos.kernel.base import owner_alive
from chaos.metrics import FaultGauge
from exporters.contract import JOB_CHAOS
from foundation.durations import parse_duration
from foundation.process import LOOPBACK, write_atomic
from foundation.prometheus import PrometheusClient, PrometheusUnavailable

#: Prometheus 2.42 hands new file_sd targets to its scrape loop at most every 5 s; then one scrape.
ANNOUNCE_WAIT_S = 12.0
_FILE = re.compile(r"^chaos-(?P<pid>\d+)-(?P<port>\d+)\.json$")


def chaos_job(config: dict[str, Any]) -> tuple[Path, float] | None:
    """(file_sd directory, scrape interval in seconds) of the ``chaos`` job of a Prometheus configuration."""
    interval = (config.get("global") or {}).get("scrape_interval", "1m")
    for job in config.get("scrape_configs") or []:
        if job.get("job_name") != JOB_CHAOS:
            continue
        for sd in job.get("file_sd_configs") or []:
            for pattern in sd.get("files") or []:
                if fnmatch("chaos-1-1.json", Path(pattern).name):
                    return Path(pattern).parent, parse_duration(job.get("scrape_interval", interval))
    return None


class FaultExporter:
    """The gauge on a loopback /metrics, announced to the Prometheus servers of this process's runs."""

    def __init__(self, gauge: FaultGauge | None = None) -> None:
        self.gauge = gauge or FaultGauge()
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(self.gauge)
        self._server: Any = None
        self._lock = threading.Lock()
        self._files: dict[Path, Path] = {}  # file_sd directory -> the file there that announces us
        self._announced: dict[str, Path] = {}  # Prometheus URL -> its file_sd directory

    @property
    def address(self) -> str | None:
        return f"{LOOPBACK}:{self._server.server_port}" if self._server is not None else None

    def serve(self) -> str:
        """Start serving (once); the ``host:port`` of /metrics."""
        if self._server is None:
            self._server, _thread = start_http_server(0, addr=LOOPBACK, registry=self.registry)
            atexit.register(self.close)
        address = self.address
        assert address is not None
        return address

    def announce(self, prometheus_url: str, wait_s: float = ANNOUNCE_WAIT_S) -> str | None:
        """See that the Prometheus at ``prometheus_url`` scrapes the gauge, waiting (the first time) until it
        did; None when it does, else a note saying why not (the experiment goes on without it)."""
        with self._lock:
            announced = self._announced.get(prometheus_url)
            if announced is not None and self._files[announced].exists():
                return None
            try:
                with PrometheusClient(prometheus_url, timeout=5) as prom:
                    job = chaos_job(prom.config())
                    if job is None:
                        return (f"chaos_fault_active is not scraped: Prometheus at {prometheus_url} has no "
                                f"'{JOB_CHAOS}' job with file_sd")
                    sd_dir, interval = job
                    if not sd_dir.is_dir():
                        return (f"chaos_fault_active is not scraped: {sd_dir}, where Prometheus at "
                                f"{prometheus_url} looks for chaos runs, is not on this machine")
                    # Two scrapes: an instant fault (a kill) must be seen by at least one.
                    self.gauge.hold_s = max(self.gauge.hold_s, 2 * interval)
                    address = self.serve()
                    registered = self._files.get(sd_dir)
                    if registered is None or not registered.exists():  # else the stack did (enginewatch/stack.py)
                        self._register(sd_dir)
                    self._announced[prometheus_url] = sd_dir
                    if not _scraped(prom, address, wait_s):
                        return f"chaos_fault_active: Prometheus at {prometheus_url} did not scrape {address} " \
                               f"within {wait_s:g}s; the first faults may not be annotated"
            except PrometheusUnavailable as e:
                return f"chaos_fault_active is not scraped: {e}"
            except OSError as e:
                return f"chaos_fault_active is not scraped: cannot announce it ({e})"
        return None

    def announce_soon(self, prometheus_url: str | None) -> Callable[[], str | None]:
        """``announce`` in the background, so that Prometheus' discovery delay passes while the runner waits
        for steady state; the function returned waits for it and gives its note."""
        if not prometheus_url:
            return lambda: None
        note: list[str | None] = [None]

        def run() -> None:
            note[0] = self.announce(prometheus_url)

        thread = threading.Thread(target=run, name="chaos-announce", daemon=True)
        thread.start()

        def wait() -> str | None:
            thread.join()
            return note[0]

        return wait

    def register(self, sd_dir: Path) -> Path:
        """Serve, and write the file_sd file that points the Prometheus reading ``sd_dir`` at us."""
        with self._lock:
            return self._register(sd_dir)

    def _register(self, sd_dir: Path) -> Path:
        address = self.serve()
        _remove_dead(sd_dir)
        path = sd_dir / f"chaos-{os.getpid()}-{address.rsplit(':', 1)[1]}.json"
        write_atomic(path, json.dumps([{"targets": [address], "labels": {}}]) + "\n")
        self._files[sd_dir] = path
        return path

    def close(self) -> None:
        """Remove the announcements and stop serving: Prometheus drops the target, the series go stale."""
        with self._lock:
            for path in self._files.values():
                with contextlib.suppress(OSError):
                    path.unlink()
            self._files.clear()
            self._announced.clear()
            if self._server is not None:
                self._server.shutdown()
                self._server.server_close()
                self._server = None


def _remove_dead(sd_dir: Path) -> None:
    for path in sd_dir.glob("chaos-*.json"):
        match = _FILE.match(path.name)
        if match and not owner_alive(int(match["pid"])):
            with contextlib.suppress(OSError):
                path.unlink()


def _scraped(prom: PrometheusClient, address: str, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while True:
        with contextlib.suppress(PrometheusUnavailable):
            if any(t.job == JOB_CHAOS and t.instance == address and t.health == "up" for t in prom.targets()):
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)


_shared: FaultExporter | None = None
_shared_lock = threading.Lock()


def shared() -> FaultExporter:
    """This process's exporter (it serves nothing until a run announces it)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = FaultExporter()
        return _shared
