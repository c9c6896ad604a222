"""Control groups, v1 and v2 behind one small interface: a CPU quota or a memory limit for a process.

Detected at run time from the mount table: a controller mounted as a v1 hierarchy is used there (a
controller is bound to one hierarchy at a time); otherwise the cgroup2 mount, when it offers it.

Where a group goes, ``<parent>/enginewatch/<name>@<owner>``, ``<owner>`` the PID of the run that made it:

- v1: ``<parent>`` is the cgroup the process is in now. A child inherits its ancestors' limits, so a
  process that lived under somebody else's memory limit stays under it, and a run that crashed leaves
  its groups inside the owner's subtree, where the owner still sees them.
- v2: ``<parent>`` is the mount's root. v2 lets no group that holds processes enable controllers for
  its children ("no internal processes"), which rules out nesting under the process's own group; the
  root is exempt.

A group with processes cannot be deleted, so removing one moves its processes back first: to
``<parent>`` (v1), or to the cgroup they came from (v2; the root when that is unknown, after a crash).
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from chaos.kernel.base import PROJECT, KernelError, KernelUnavailable

MOUNTS = Path("/proc/self/mounts")
PROC = Path("/proc")
#: The controllers the project creates groups in (and cleans up after).
CONTROLLERS = ("cpu", "memory")
#: CFS period of a v2 quota (the kernel's default; v1 groups keep the period they inherit).
PERIOD_US = 100_000
#: The kernel refuses a quota below 1 ms per period.
MIN_QUOTA_US = 1_000
#: Bound on the search for leftover groups: deeper than any container runtime nests.
SCAN_DEPTH = 8
#: A process may still be leaving a group (exiting) when we delete it: EBUSY for a moment.
RMDIR_ATTEMPTS = 50
RMDIR_PAUSE_S = 0.02
_UNLIMITED = 1 << 62
#: Between a group's name and its owner's PID in the directory name.
OWNER_SEP = "@"


@dataclass(frozen=True)
class CpuStat:
    periods: int
    throttled: int  # periods in which the group had used up its quota
    throttled_s: float


@dataclass(frozen=True)
class Hierarchy:
    version: int  # 1 or 2
    controller: str
    mount: Path

    def describe(self) -> str:
        return f"cgroup v{self.version} {self.controller} at {self.mount}"


def _mount_table(table: Path) -> list[tuple[str, Path, set[str]]]:
    try:
        text = table.read_text()
    except OSError as e:
        raise KernelUnavailable(f"cannot read the mount table {table}: {e.strerror}") from None
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] in ("cgroup", "cgroup2"):
            out.append((fields[2], Path(fields[1]), set(fields[3].split(","))))
    return out


def hierarchy(controller: str, mounts: Path | None = None) -> Hierarchy:
    """Where ``controller`` lives on this machine; KernelUnavailable saying why when nowhere."""
    table = _mount_table(mounts or MOUNTS)
    for fstype, path, options in table:
        if fstype == "cgroup" and controller in options:
            if not path.is_dir():
                raise KernelUnavailable(f"cgroup v1 {controller} hierarchy {path} is in the mount table but "
                                        "does not exist")
            return Hierarchy(1, controller, path)
    for fstype, path, _ in table:
        if fstype != "cgroup2":
            continue
        try:
            available = (path / "cgroup.controllers").read_text().split()
        except OSError as e:
            raise KernelUnavailable(f"cgroup2 at {path}: cannot read cgroup.controllers ({e.strerror})") from None
        if controller in available:
            return Hierarchy(2, controller, path)
        raise KernelUnavailable(f"the {controller} controller is not available in cgroup2 at {path} "
                                f"(available: {', '.join(available) or 'none'}) and no v1 hierarchy has it")
    raise KernelUnavailable(f"no cgroup hierarchy offers the {controller} controller (none mounted, v1 or v2)")


def process_cgroup(pid: int, h: Hierarchy) -> str:
    """The process's cgroup in ``h``, relative to its mount ("/" for the root)."""
    try:
        lines = (PROC / str(pid) / "cgroup").read_text().splitlines()
    except FileNotFoundError:
        raise KernelError(f"process {pid} is gone") from None
    for line in lines:
        hid, controllers, path = line.split(":", 2)
        if (h.version == 2 and hid == "0" and not controllers) or \
                (h.version == 1 and h.controller in controllers.split(",")):
            return path
    raise KernelError(f"process {pid} has no cgroup in {h.describe()}")


def group_for(controller: str, name: str, pid: int, mounts: Path | None = None, owner: int | None = None) -> Cgroup:
    """The project's group ``name`` for process ``pid`` in ``controller`` (not created yet), owned by
    ``owner`` (default: this process)."""
    h = hierarchy(controller, mounts)
    if OWNER_SEP in name or "/" in name:
        raise ValueError(f"a group name has no {OWNER_SEP!r} or '/': {name!r}")
    leaf = f"{name}{OWNER_SEP}{owner or os.getpid()}"
    current = process_cgroup(pid, h)
    if PROJECT in Path(current).parts:
        raise KernelError(f"process {pid} is already in the project's group {current} of {h.describe()}: "
                          "one such fault per process at a time")
    here = h.mount / current.lstrip("/")
    if h.version == 1:
        return CgroupV1(h, here / PROJECT / leaf, home=here)
    return CgroupV2(h, h.mount / PROJECT / leaf, home=here)


def leftovers(mounts: Path | None = None) -> list[Cgroup]:
    """Every group of the project's in the hierarchies of CONTROLLERS (what a crashed run left)."""
    found: dict[Path, Cgroup] = {}
    for controller in CONTROLLERS:
        try:
            h = hierarchy(controller, mounts)
        except KernelUnavailable:
            continue
        if h.version == 2:
            project_dirs = [h.mount / PROJECT] if (h.mount / PROJECT).is_dir() else []
        else:
            project_dirs = list(_project_dirs(h.mount))
        for project_dir in project_dirs:
            for child in sorted(p for p in project_dir.iterdir() if p.is_dir()):
                group: Cgroup = (CgroupV1(h, child, home=project_dir.parent) if h.version == 1
                                 else CgroupV2(h, child, home=h.mount))
                found.setdefault(child, group)  # v2: one hierarchy for every controller
    return list(found.values())


def _project_dirs(mount: Path) -> Iterator[Path]:
    for dirpath, dirnames, _ in os.walk(mount):
        here = Path(dirpath)
        if here.name == PROJECT:
            dirnames.clear()  # its children are the groups themselves
            yield here
        elif len(here.relative_to(mount).parts) >= SCAN_DEPTH:
            dirnames.clear()


def _oserror(e: OSError, what: str) -> KernelError:
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return KernelUnavailable(f"not permitted to {what}: {e.strerror} (cgroups need root)")
    if e.errno == errno.ENOENT:
        return KernelUnavailable(f"cannot {what}: no such file (the kernel lacks this control)")
    return KernelError(f"cannot {what}: {e.strerror}")


class Cgroup(ABC):
    """One group of the project's in one hierarchy; ``home`` is where its processes go back to."""

    version: ClassVar[int]

    def __init__(self, hierarchy: Hierarchy, path: Path, home: Path) -> None:
        self.hierarchy = hierarchy
        self.path = path
        self.home = home

    def describe(self) -> str:
        return f"cgroup v{self.version} {self.hierarchy.controller} {self.path}"

    @property
    def owner(self) -> int | None:
        """The PID of the run that made it (None for a group without one: nobody's, any more)."""
        _, sep, pid = self.path.name.rpartition(OWNER_SEP)
        return int(pid) if sep and pid.isdigit() else None

    @property
    def exists(self) -> bool:
        return self.path.is_dir()

    # --- files ------------------------------------------------------------------------------------------

    def _read(self, name: str) -> str:
        try:
            return (self.path / name).read_text()
        except OSError as e:
            raise _oserror(e, f"read {self.path / name}") from None

    def _write(self, name: str, value: str, directory: Path | None = None) -> None:
        path = (directory or self.path) / name
        try:
            # One write(2) per value: cgroup files act on each write, and buffering could split one.
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)  # as the shell's ">" does; cgroupfs ignores O_TRUNC
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
        except OSError as e:
            raise _oserror(e, f"write {value!r} to {path}") from None

    def _keyed(self, name: str) -> dict[str, int]:
        out = {}
        for line in self._read(name).splitlines():
            key, _, value = line.partition(" ")
            if value.strip().lstrip("-").isdigit():
                out[key] = int(value)
        return out

    # --- membership ---------------------------------------------------------------------------------------

    def create(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise _oserror(e, f"create {self.path}") from None

    @property
    def procs_file(self) -> Path:
        return self.path / "cgroup.procs"

    def add(self, pid: int) -> None:
        try:
            self._write("cgroup.procs", str(pid))
        except KernelError:
            if not (PROC / str(pid)).exists():
                raise KernelError(f"process {pid} is gone") from None
            raise

    def procs(self) -> list[int]:
        if not self.exists:
            return []
        return [int(p) for p in self._read("cgroup.procs").split()]

    def remove(self) -> str:
        """Move the processes home, delete the group (and the project's directory once empty)."""
        if not self.exists:
            return f"{self.describe()}: already gone"
        home = self.home if (self.home / "cgroup.procs").exists() else self.hierarchy.mount
        moved: list[int] = []
        for attempt in range(RMDIR_ATTEMPTS):
            for pid in self.procs():
                with contextlib.suppress(KernelError):  # it exited in between: nothing to move
                    self._write("cgroup.procs", str(pid), directory=home)
                    moved.append(pid)
            try:
                os.rmdir(self.path)
                break
            except OSError as e:
                if e.errno != errno.EBUSY or attempt == RMDIR_ATTEMPTS - 1:
                    raise _oserror(e, f"remove {self.path}") from None
            time.sleep(RMDIR_PAUSE_S)
        with contextlib.suppress(OSError):  # other groups of the project may still be in it
            os.rmdir(self.path.parent)
        moved_text = f"; pid {', '.join(map(str, dict.fromkeys(moved)))} moved back to {home}" if moved else ""
        return f"removed {self.describe()}{moved_text}"

    # --- controls -----------------------------------------------------------------------------------------

    @abstractmethod
    def limit_cpu(self, cpus: float) -> None:
        """At most ``cpus`` CPUs' worth of time per period (CFS bandwidth control)."""

    @abstractmethod
    def cpu_limit(self) -> float | None: ...

    @abstractmethod
    def cpu_stat(self) -> CpuStat: ...

    @abstractmethod
    def limit_memory(self, limit_bytes: int) -> None:
        """Past ``limit_bytes`` (no swap to escape to) the kernel's OOM killer ends a process of the group."""

    @abstractmethod
    def memory_limit(self) -> int | None: ...

    @abstractmethod
    def memory_usage(self) -> int: ...

    @abstractmethod
    def oom_kills(self) -> int: ...


class CgroupV1(Cgroup):
    version = 1

    def limit_cpu(self, cpus: float) -> None:
        period = self._keyed_int("cpu.cfs_period_us")
        self._write("cpu.cfs_quota_us", str(max(MIN_QUOTA_US, round(cpus * period))))

    def cpu_limit(self) -> float | None:
        quota = self._keyed_int("cpu.cfs_quota_us")
        return None if quota < 0 else quota / self._keyed_int("cpu.cfs_period_us")

    def cpu_stat(self) -> CpuStat:
        s = self._keyed("cpu.stat")
        return CpuStat(s.get("nr_periods", 0), s.get("nr_throttled", 0), s.get("throttled_time", 0) / 1e9)

    def limit_memory(self, limit_bytes: int) -> None:
        self._write("memory.limit_in_bytes", str(limit_bytes))
        if (self.path / "memory.memsw.limit_in_bytes").exists():
            # With swap accounting on, memory+swap must be capped too, or the group swaps instead of OOMing.
            self._write("memory.memsw.limit_in_bytes", str(limit_bytes))

    def memory_limit(self) -> int | None:
        limit = self._keyed_int("memory.limit_in_bytes")
        return None if limit >= _UNLIMITED else limit

    def memory_usage(self) -> int:
        return self._keyed_int("memory.usage_in_bytes")

    def oom_kills(self) -> int:
        return self._keyed("memory.oom_control").get("oom_kill", 0)

    def _keyed_int(self, name: str) -> int:
        return int(self._read(name).strip())


class CgroupV2(Cgroup):
    version = 2

    def create(self) -> None:
        # The controller must be enabled for the children of every level above the group.
        mount, project = self.hierarchy.mount, self.path.parent
        self._enable(mount)
        try:
            project.mkdir(exist_ok=True)
        except OSError as e:
            raise _oserror(e, f"create {project}") from None
        self._enable(project)
        super().create()

    def _enable(self, directory: Path) -> None:
        controller = self.hierarchy.controller
        try:
            enabled = (directory / "cgroup.subtree_control").read_text().split()
        except OSError as e:
            raise _oserror(e, f"read {directory / 'cgroup.subtree_control'}") from None
        if controller not in enabled:
            self._write("cgroup.subtree_control", f"+{controller}", directory=directory)

    def limit_cpu(self, cpus: float) -> None:
        self._write("cpu.max", f"{max(MIN_QUOTA_US, round(cpus * PERIOD_US))} {PERIOD_US}")

    def cpu_limit(self) -> float | None:
        quota, _, period = self._read("cpu.max").strip().partition(" ")
        return None if quota == "max" else int(quota) / int(period)

    def cpu_stat(self) -> CpuStat:
        s = self._keyed("cpu.stat")
        return CpuStat(s.get("nr_periods", 0), s.get("nr_throttled", 0), s.get("throttled_usec", 0) / 1e6)

    def limit_memory(self, limit_bytes: int) -> None:
        self._write("memory.max", str(limit_bytes))
        if (self.path / "memory.swap.max").exists():
            self._write("memory.swap.max", "0")

    def memory_limit(self) -> int | None:
        text = self._read("memory.max").strip()
        return None if text == "max" else int(text)

    def memory_usage(self) -> int:
        return int(self._read("memory.current").strip())

    def oom_kills(self) -> int:
        return self._keyed("memory.events").get("oom_kill", 0)
