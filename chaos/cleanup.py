"""After a crash: remove every cgroup and netfilter rule a dead run of the project left, and say what.

Nothing is recorded while a run acts, so nothing can be lost: leftovers are found by name (groups under
``enginewatch/`` in the cpu and memory hierarchies, rules in and jumps to the ``ENGINEWATCH`` chain),
and each names its owner, the PID of the run that made it. By default only what a run that is no longer
running left is removed: a game day in another terminal keeps its faults (``everything`` removes them
too). A stress-ng still in a removed group is ours (only noisy_neighbor puts one there) and is ended by
its PID; any other process in it is a pod and goes back to the group it came from.

Storage latency needs no cleanup: it lives in the node process and ends with it.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from chaos.kernel import KernelError, KernelUnavailable, cgroups, netfilter, stress
from chaos.kernel.base import owner_alive

STRESS_EXIT_WAIT_S = 3.0


@dataclass
class CleanupReport:
    removed: list[str] = field(default_factory=list)
    #: What a run that is still running owns: left alone.
    kept: list[str] = field(default_factory=list)
    #: What could not be removed; the caller fails with these.
    problems: list[str] = field(default_factory=list)
    #: Mechanisms this machine does not have: nothing of them can be left over.
    skipped: list[str] = field(default_factory=list)


def cleanup(everything: bool = False, owner: int | None = None, mounts: Path | None = None,
            iptables: str | None = None) -> CleanupReport:
    """Remove what dead runs left; with ``owner``, only what that run made; with ``everything``, all."""

    def remove(of: int | None) -> bool:
        if owner is not None:
            return of == owner
        return everything or not owner_alive(of)

    report = CleanupReport()
    try:
        groups = cgroups.leftovers(mounts)
    except KernelError as e:
        groups = []
        report.problems.append(f"cgroups: {e}")
    for group in groups:
        if not remove(group.owner):
            report.kept.append(f"{group.describe()}: its run (pid {group.owner}) is still running")
            continue
        try:
            report.removed += _end_stress_ng(group)
            report.removed.append(group.remove().removeprefix("removed "))
        except KernelError as e:
            report.problems.append(f"{group.describe()}: {e}")
    try:
        removed, kept = netfilter.Netfilter(iptables).cleanup(remove)
        report.removed += removed
        report.kept += [f"{rule}: its run (pid {netfilter.owner_of(rule)}) is still running" for rule in kept]
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
            # Workers name themselves after their stressor ("stress-ng-cpu"): they go too, not home.
            if process.name().startswith(stress.BINARY):
                process.send_signal(signal.SIGKILL)
                procs.append(process)
                ended.append(f"{process.name()} pid {pid} (ended by SIGKILL) from {group.path}")
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(procs, timeout=STRESS_EXIT_WAIT_S)
    return ended
