"""A third-party server binary (Prometheus, Alertmanager) run as our child on a free loopback port.

These binaries can neither inherit a bound socket nor report the port they picked, so we pick a port
that was free a moment ago and, if someone took it in between, start again on another one.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Self

import psutil

from foundation.process import LOOPBACK, ManagedProcess, free_port, http_ok


class ServerError(RuntimeError):
    """The server did not start or refused a request; the message says why, with its log."""


class BinaryServer:
    """Subclasses give ``name``, the binary, the argv for a port and the readiness path."""

    name = "server"
    ready_path = "/-/ready"

    def __init__(self, binary: Path, log_path: Path) -> None:
        self.binary = Path(binary)
        self.log_path = Path(log_path)
        self.port = 0
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.alive

    def argv(self) -> list[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """Write configuration and directories for ``self.port``; called before each attempt."""

    def start(self, timeout: float = 30.0, attempts: int = 3) -> Self:
        """Start and wait until ready; raises ServerError with the log tail when it cannot."""
        if not self.binary.exists():
            raise ServerError(f"{self.binary} not found: install the Debian package that provides it")
        if self.alive:
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, attempts + 1):
            self.port = free_port()
            self.prepare()
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            self.process = ManagedProcess(self.name, self.argv(), log_path=self.log_path).start()
            problem = self._wait_ready(timeout)
            if problem is None:
                return self
            self.process.stop(grace=5.0)
            log = self._log_since(offset)
            if "address already in use" in log and attempt < attempts:
                continue
            tail = "\n".join(log.splitlines()[-20:])
            raise ServerError(f"{self.name} did not become ready ({problem}); log {self.log_path}:\n{tail}")
        raise AssertionError("unreachable")

    def _wait_ready(self, timeout: float) -> str | None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.alive:
                return f"exited with code {self.process.poll()}"
            # Whoever holds the port answers HTTP; only our child's own listener makes it ours.
            if self._listening() and http_ok(self.url + self.ready_path, timeout=1.0):
                return None
            time.sleep(0.1)
        return f"not ready after {timeout:.0f}s"

    def _listening(self) -> bool:
        assert self.process is not None and self.process.pid is not None
        try:
            conns = psutil.Process(self.process.pid).net_connections(kind="tcp")
        except psutil.Error:
            return False
        return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == self.port for c in conns)

    def _log_since(self, offset: int) -> str:
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM to our child's PID, SIGKILL after ``grace``; returns the exit code."""
        return self.process.stop(grace) if self.process else None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
