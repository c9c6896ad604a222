"""After a crash: remove every cgroup and netfilter rule of the project, and say what was removed.

Nothing is recorded while a run acts, so nothing can be lost: leftovers are found by name (groups
under ``enginewatch/`` in the cpu and memory hierarchies, rules in and jumps to the ``ENGINEWATCH``
chain). A stress-ng still in one of those groups is ours (only noisy_neighbor puts one there) and is
ended by its PID; any other process in them is a pod and goes back to the group it came from.

Storage latency needs no cleanup: it lives in the node process and ends with it.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from chaos.kernel import KernelError, KernelUnavailable, cgroups, netfilter, stress

STRESS_EXIT_WAIT_S = 3.0


@dataclass
class CleanupReport:
    removed: list[str] = field(default_factory=list)
    #: What could not be removed; the caller fails with these.
    problems: list[str] = field(default_factory=list)
    #: Mechanisms this machine does not have: nothing of them can be left over.
    skipped: list[str] = field(default_factory=list)


def cleanup(mounts: Path | None = None, iptables: str | None = None) -> CleanupReport:
    report = CleanupReport()
    try:
        groups = cgroups.leftovers(mounts)
    except KernelError as e:
        groups = []
        report.problems.append(f"cgroups: {e}")
    for group in groups:
        try:
            report.removed += _end_stress_ng(group)
            report.removed.append(group.remove())
        except KernelError as e:
            report.problems.append(f"{group.describe()}: {e}")
    try:
        report.removed += netfilter.Netfilter(iptables).cleanup()
    except KernelUnavailable as e:
        report.skipped.append(f"netfilter: {e}")
    except KernelError as e:
        report.problems.append(f"netfilter: {e}")
    return report


def _end_stress_ng(group: cgroups.Cgroup) -> list[str]:
    ended = []
    procs = []
    for pid in group.procs():
        try:
            process = psutil.Process(pid)
            if process.name() == stress.BINARY:
                process.send_signal(signal.SIGKILL)
                procs.append(process)
                ended.append(f"stress-ng pid {pid} (SIGKILL) in {group.path}")
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(procs, timeout=STRESS_EXIT_WAIT_S)
    return ended
