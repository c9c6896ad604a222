"""Child processes that we start, own and stop by PID — never by name pattern.

Used for pods (engine nodes), the gateway, Prometheus and Alertmanager alike.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from foundation.kubernetes import BIND_HOST_ENV

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A port that was free a moment ago. Prefer letting the child bind port 0 and report it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def bind_host() -> str:
    """Loopback, unless ``ENGINEWATCH_BIND_HOST`` names another IPv4 address.

    Only a Kubernetes pod sets it (to 0.0.0.0): there Prometheus, the gateway and the kubelet's probes
    reach the process at the pod IP. A bad value is refused rather than silently bound to loopback.
    """
    host = os.environ.get(BIND_HOST_ENV, "").strip() or LOOPBACK
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise ValueError(f"{BIND_HOST_ENV}={host!r} is not an IPv4 address") from None
    return host


def bind_socket(port: int = 0) -> socket.socket:
    """A listening socket on loopback (see bind_host); port 0 picks a free one, so busy ports never collide."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((bind_host(), port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def write_atomic(path: Path, text: str) -> None:
    """Readers (Prometheus file_sd, the gateway) must never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05,
               what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if predicate():
                return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def python_module(module: str, *args: str) -> list[str]:
    """Argv to run one of our modules with the interpreter running us (the project's venv)."""
    return [sys.executable, "-m", module, *args]


class ManagedProcess:
    """A child process started by us; signals go to its PID only, and only while we own it."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path | None = None,
                 env: dict[str, str] | None = None, cwd: Path | None = None,
                 pass_fds: Sequence[int] = ()) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.pass_fds = tuple(pass_fds)
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> ManagedProcess:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **(self.env or {})}, cwd=self.cwd, pass_fds=self.pass_fds,
                start_new_session=True,  # Ctrl-C in our terminal must not reach children directly
            )
        finally:
            if self.log_path:
                log.close()  # type: ignore[union-attr]
        self.started_at = time.monotonic()
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def poll(self) -> int | None:
        return self.proc.poll() if self.proc else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> bool:
        """Send ``sig`` to our child; False when it has already exited (no PID reuse risk)."""
        if not self.alive:
            return False
        assert self.proc is not None
        self.proc.send_signal(sig)
        return True

    def wait(self, timeout: float | None = None) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM, wait ``grace`` seconds, then SIGKILL. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if self.signal(signal.SIGCONT):  # a paused (SIGSTOP) child cannot handle SIGTERM
                pass
            self.signal(signal.SIGTERM)
            if self.wait(grace) is None:
                self.signal(signal.SIGKILL)
                self.wait(5.0)
        return self.proc.returncode

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
