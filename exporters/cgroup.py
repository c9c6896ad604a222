"""CPU throttling of the process's own cgroup (CFS bandwidth control), as counters read at scrape time.

A Kubernetes CPU limit is a CFS quota on the pod's cgroup: past it the kernel stops the pod's threads
until the next period, and the pod is slow without being busy — its CPU utilisation looks modest, its
latency does not. Only the cgroup's ``cpu.stat`` says so (cAdvisor exports it as
``container_cpu_cfs_throttled_seconds_total``); here the node exports it itself, from whichever group
it is in at the moment of the scrape:

- cgroup v1: the ``cpu`` hierarchy's ``cpu.stat`` (``nr_periods``, ``nr_throttled``,
  ``throttled_time`` in ns);
- cgroup v2: the unified hierarchy's ``cpu.stat`` (``nr_periods``, ``nr_throttled``,
  ``throttled_usec``), present once the ``cpu`` controller is enabled for the group.

A v1 ``cpu`` hierarchy wins over a cgroup2 mount: a controller is bound to one hierarchy at a time, and
where both are mounted (hybrid systems) the unified one does not have it.

The group is looked up on every read, because a process can be moved (a chaos experiment confines a
pod to a throttled group, and moves it back). The counters stay monotonic across a move: within one
group they grow by that group's deltas; after a move the new group's counters are the new baseline,
so the node never claims the throttling of a group it was not in (a parent shared with other processes).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from exporters.contract import CPU_PERIODS, CPU_THROTTLED, CPU_THROTTLED_PERIODS

PROC_SELF = Path("/proc/self")


@dataclass(frozen=True)
class CpuStat:
    periods: int
    throttled_periods: int
    throttled_s: float


@dataclass(frozen=True)
class _Mount:
    version: int  # 1 or 2
    root: str  # the cgroup path the mount shows as its top (not "/" inside a cgroup namespace)
    point: Path


def _mounts(mountinfo: Path) -> list[_Mount]:
    """cgroup mounts that can hold the cpu controller: v1 hierarchies with ``cpu``, then cgroup2."""
    v1: list[_Mount] = []
    v2: list[_Mount] = []
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        # "36 35 0:30 /root /sys/fs/cgroup/cpu rw,relatime shared:1 - cgroup cgroup rw,cpu"
        head, sep, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if not sep or len(fields) < 5 or len(rest) < 3:
            continue
        fstype, super_options = rest[0], rest[2].split(",")
        root, point = fields[3], Path(fields[4].replace("\\040", " "))
        if fstype == "cgroup" and "cpu" in super_options:
            v1.append(_Mount(1, root, point))
        elif fstype == "cgroup2":
            v2.append(_Mount(2, root, point))
    return v1 + v2


def _memberships(cgroup_file: Path) -> tuple[str | None, str | None]:
    """(v1 cpu path, v2 path) of the process, from ``/proc/PID/cgroup``."""
    v1 = v2 = None
    try:
        lines = cgroup_file.read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        hid, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hid == "0" and not controllers:
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v1, v2


def _directory(mount: _Mount, path: str) -> Path:
    relative = path
    if mount.root != "/" and (path == mount.root or path.startswith(mount.root + "/")):
        relative = path[len(mount.root):]
    directory = mount.point / relative.lstrip("/")
    # Inside a cgroup namespace the process's path can name a group above what the mount shows:
    # the mount's top is then the process's own group.
    return directory if directory.is_dir() else mount.point


def cpu_cgroup(proc: Path = PROC_SELF) -> Path | None:
    """The directory of the cgroup whose ``cpu.stat`` accounts the process's CPU quota, or None."""
    v1_path, v2_path = _memberships(proc / "cgroup")
    for mount in _mounts(proc / "mountinfo"):
        path = v1_path if mount.version == 1 else v2_path
        if path is None:
            continue
        directory = _directory(mount, path)
        if (directory / "cpu.stat").is_file():
            return directory
    return None


def read_cpu_stat(directory: Path) -> CpuStat | None:
    """The group's quota counters; zeros where the kernel keeps none (no quota ever set, v2 without cpu)."""
    try:
        text = (directory / "cpu.stat").read_text()
    except OSError:
        return None
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            values[key] = int(value)
    throttled_s = (values["throttled_usec"] / 1e6 if "throttled_usec" in values
                   else values.get("throttled_time", 0) / 1e9)
    return CpuStat(values.get("nr_periods", 0), values.get("nr_throttled", 0), throttled_s)


class ThrottleAccount:
    """Monotonic totals over the groups the process has been in (see the module doc)."""

    def __init__(self, locate: Callable[[], Path | None] = cpu_cgroup) -> None:
        self._locate = locate
        self._lock = threading.Lock()
        self._group: Path | None = None
        self._last: CpuStat | None = None
        self.periods = 0
        self.throttled_periods = 0
        self.throttled_s = 0.0

    def read(self) -> bool:
        """Bring the totals up to date; False when no cgroup with CPU accounting can be found."""
        group = self._locate()
        stat = read_cpu_stat(group) if group is not None else None
        with self._lock:
            if stat is None:
                return False
            last = self._last
            if group == self._group and last is not None:
                # max(): a group deleted and made again under the same name starts from zero.
                self.periods += max(0, stat.periods - last.periods)
                self.throttled_periods += max(0, stat.throttled_periods - last.throttled_periods)
                self.throttled_s += max(0.0, stat.throttled_s - last.throttled_s)
            self._group, self._last = group, stat
            return True


class CgroupCpuCollector(Collector):
    """The throttling counters of the contract, from :class:`ThrottleAccount`; none without cgroups."""

    def __init__(self, account: ThrottleAccount | None = None) -> None:
        self.account = account or ThrottleAccount()
        self.account.read()  # the baseline: the counters start at 0 with the process's first scrape

    def collect(self) -> Iterator[CounterMetricFamily]:
        a = self.account
        if not a.read():
            return
        for metric, value in ((CPU_PERIODS, float(a.periods)), (CPU_THROTTLED_PERIODS, float(a.throttled_periods)),
                              (CPU_THROTTLED, a.throttled_s)):
            family = CounterMetricFamily(metric.client_name, metric.help)
            family.add_metric([], value)
            yield family
