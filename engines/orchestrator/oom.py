"""Was a SIGKILL the kernel's OOM killer? Read from the memory cgroup the pod's process was put in.

The kubelet knows a container was OOMKilled because it made the container's memory cgroup. Here a pod
runs in the orchestrator's own cgroup until something (chaos ``limit_memory``) confines it to one with
a limit and tells the orchestrator where, by :meth:`Orchestrator.watch_oom`. The watch notes the
cgroup's OOM-kill counter then; a SIGKILL of that process after the counter went up is an OOM kill.

The path must be remembered, not looked up at exit: a process leaves its cgroups as it exits, before
it is reaped (``/proc/PID/cgroup`` of a zombie names the root).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

#: Where each cgroup version counts OOM kills ("oom_kill N"): v1 memory.oom_control, v2 memory.events.
_COUNTERS = ("memory.events", "memory.oom_control")


def oom_kills(cgroup: Path) -> int | None:
    """The group's OOM-kill count; None when the group is gone or has no such counter."""
    for name in _COUNTERS:
        try:
            text = (cgroup / name).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
    return None


@dataclass
class OomWatch:
    pid: int
    cgroup: Path
    baseline: int = field(default=0)

    @classmethod
    def start(cls, pid: int, cgroup: Path) -> OomWatch:
        count = oom_kills(cgroup)
        if count is None:
            raise ValueError(f"{cgroup} is not a memory cgroup with an OOM-kill counter")
        return cls(pid, cgroup, count)

    def fired(self) -> bool:
        count = oom_kills(self.cgroup)
        return count is not None and count > self.baseline
