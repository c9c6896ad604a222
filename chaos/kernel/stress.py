"""stress-ng as a noisy neighbour: bounded in workers and in time, started in a cgroup, stopped by PID.

The process joins its cgroups before it execs stress-ng (a shell writes its own PID into each
``cgroup.procs``, then ``exec``s), so the workers it forks are born inside them: moving the parent
afterwards would leave any worker forked meanwhile outside. ``--timeout`` ends it even if we die
first; ``stop()`` ends it earlier, parent first (it reaps its workers), then any worker left, by PID.
"""

from __future__ import annotations

import math
import shlex
import shutil
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from chaos.kernel.base import KernelUnavailable
from foundation.process import ManagedProcess

BINARY = "stress-ng"
KINDS = ("cpu", "vm")
MAX_WORKERS = 8
STOP_GRACE_S = 3.0


@dataclass(frozen=True)
class StressSpec:
    kind: str  # cpu | vm
    workers: int
    timeout_s: float
    vm_bytes: int = 128 * 1024 * 1024

    def argv(self, binary: str) -> list[str]:
        if self.kind not in KINDS:
            raise ValueError(f"stressor kind {self.kind!r} is not one of {KINDS}")
        if not 1 <= self.workers <= MAX_WORKERS:
            raise ValueError(f"workers must be 1..{MAX_WORKERS}, got {self.workers}")
        load = (["--cpu", str(self.workers)] if self.kind == "cpu" else
                ["--vm", str(self.workers), "--vm-bytes", str(self.vm_bytes), "--vm-keep"])
        return [binary, *load, "--timeout", f"{max(1, math.ceil(self.timeout_s))}s", "--metrics-brief"]


class Stress:
    """One stress-ng run; ``procs_files`` are the ``cgroup.procs`` files of the groups it starts in."""

    def __init__(self, spec: StressSpec, procs_files: Sequence[Path], log_path: Path, name: str = "stress-ng") -> None:
        self.spec = spec
        self.procs_files = list(procs_files)
        self.log_path = log_path
        self.name = name
        self._process: ManagedProcess | None = None
        #: psutil handles, not bare PIDs: is_running() also checks the start time, so a reused PID is safe.
        self._workers: dict[int, psutil.Process] = {}

    def start(self) -> int:
        binary = shutil.which(BINARY)
        if binary is None:
            raise KernelUnavailable(f"{BINARY} not found (install Debian's stress-ng: make debs)")
        joins = "".join(f"echo $$ > {shlex.quote(str(f))} && " for f in self.procs_files)
        script = f"set -e; {joins}exec {shlex.join(self.spec.argv(binary))}"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._process = ManagedProcess(self.name, ["/bin/sh", "-c", script], log_path=self.log_path).start()
        assert self._process.pid is not None
        return self._process.pid

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.alive

    def workers(self) -> list[int]:
        """PIDs of the workers it forked (remembered, so that stop() can end any the parent left)."""
        if not self.alive:
            return sorted(self._workers)
        try:
            children = psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        for child in children:
            self._workers.setdefault(child.pid, child)
        return sorted(c.pid for c in children)

    def is_stress_ng(self) -> bool:
        """Our shell has exec'd stress-ng (it did not fail to join a group first)."""
        try:
            return self.alive and psutil.Process(self.pid).name() == BINARY
        except psutil.NoSuchProcess:
            return False

    def stop(self) -> str:
        if self._process is None:
            return "stress-ng was not started"
        self.workers()
        was_alive = self._process.alive
        code = self._process.stop(grace=STOP_GRACE_S)
        left = []
        for pid, worker in sorted(self._workers.items()):
            try:
                if worker.is_running() and worker.status() != psutil.STATUS_ZOMBIE:
                    worker.send_signal(signal.SIGKILL)
                    left.append(pid)
            except psutil.NoSuchProcess:
                continue
        how = f"stopped (exit {code})" if was_alive else f"had ended by itself (exit {code})"
        return f"stress-ng pid {self.pid} {how}" + (f"; killed left-over worker(s) {left}" if left else "")

    def summary(self) -> str:
        """stress-ng's own metrics line (bogo ops), once it has ended."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        metrics = [ln.split("] ", 1)[-1].strip() for ln in lines if "metrc:" in ln]
        return metrics[-1] if metrics else ""
