"""The local backend's gray faults: each on one mechanism of chaos/kernel (or the node's own fault knob),
each proving itself by reading its effect back, each removable at any moment.

They act only on the PID and the port the orchestrator reports for a pod it started, and they are
told again (``follow``) when the orchestrator replaces the pod's process.

A fault still applied when the interpreter exits (an exception nobody caught, a test that forgot its
rollback) is lifted at exit; only a SIGKILL'd process leaves one behind, for `enginewatch chaos cleanup`.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chaos.backend import BackendError, PodInfo, Unsupported
from chaos.kernel import KernelError, KernelUnavailable, cgroups, netfilter, stress
from engines.orchestrator import OrchestratorError

if TYPE_CHECKING:
    from engines.orchestrator import Orchestrator

MIB = 1024 * 1024
#: Throttling needs demand: how long verify() waits to see the kernel throttle a busy pod.
THROTTLE_WAIT_S = 1.5
#: A partitioned port must not answer a connect within this long.
PROBE_TIMEOUT_S = 0.5
#: stress-ng forks its workers right after it starts.
STRESS_START_S = 3.0
#: The measured read may fall short of the configured latency by the timer's slack, no more.
LATENCY_TOLERANCE = 0.9


@contextlib.contextmanager
def platform_errors() -> Iterator[None]:
    """Kernel and orchestrator refusals as the backend interface's errors."""
    try:
        yield
    except KernelUnavailable as e:
        raise Unsupported(str(e)) from None
    except KernelError as e:
        raise BackendError(str(e)) from None
    except OrchestratorError as e:
        raise BackendError(str(e)) from None
    except OSError as e:  # e.g. no /bin/sh to start stress-ng with
        raise BackendError(f"{e.filename or 'OS'}: {e.strerror}") from None


def _wait(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
    return True


def port_of(url: str | None) -> int | None:
    return urlsplit(url).port if url else None


_APPLIED: set[_PodFault] = set()
_APPLIED_LOCK = threading.Lock()


@atexit.register
def _lift_at_exit() -> None:
    with _APPLIED_LOCK:
        faults = list(_APPLIED)
    for fault in faults:
        with contextlib.suppress(Exception):  # exiting anyway: lift what can be lifted
            fault.lift()


class _PodFault(ABC):
    """What every fault shares: a lock between the follower, verify and lift; lift once; final figures.

    Subclasses apply their fault in ``__init__`` and call ``_applied()`` once it is in place.
    """

    def __init__(self, pod: str, pid: int) -> None:
        self.pod = pod
        self.pid = pid
        self._lock = threading.Lock()
        self._lifted: str | None = None
        self._final: dict[str, Any] = {}

    def _applied(self) -> None:
        with _APPLIED_LOCK:
            _APPLIED.add(self)

    @abstractmethod
    def describe(self) -> str: ...

    def verify(self) -> list[str]:
        with self._lock, platform_errors():
            return self._verify()

    def follow(self, pod: PodInfo) -> str | None:
        with self._lock:
            if self._lifted is not None or pod.pid is None:
                return None
            with platform_errors():
                done = self._follow(pod)
            if done is not None:
                self.pid = pod.pid
            return done

    def lift(self) -> str:
        with self._lock:
            if self._lifted is not None:
                return f"{self.pod}: already lifted"
            try:
                self._final = self._figures()
            except (KernelError, OrchestratorError, OSError) as e:
                self._final = {"error": str(e)}
            with platform_errors():
                self._lifted = self._lift()
            with _APPLIED_LOCK:
                _APPLIED.discard(self)
            return self._lifted

    def figures(self) -> dict[str, Any]:
        with self._lock:
            if self._lifted is not None:
                return dict(self._final)
            try:
                return self._figures()
            except (KernelError, OrchestratorError, OSError) as e:
                return {"error": str(e)}

    @abstractmethod
    def _verify(self) -> list[str]: ...

    @abstractmethod
    def _follow(self, pod: PodInfo) -> str | None: ...

    @abstractmethod
    def _lift(self) -> str: ...

    @abstractmethod
    def _figures(self) -> dict[str, Any]: ...


def _require_member(group: cgroups.Cgroup, pid: int) -> None:
    procs = group.procs()
    if pid not in procs:
        raise BackendError(f"pid {pid} is not in {group.procs_file} ({procs})")


def _rejoin(group: cgroups.Cgroup, pod: PodInfo) -> int:
    """Put a restarted pod's new process in the fault's group, so the fault outlives the restart."""
    assert pod.pid is not None
    group.add(pod.pid)
    return pod.pid


def _confine(controller: str, pod: str, pid: int, limit: Callable[[cgroups.Cgroup], None]) -> cgroups.Cgroup:
    """A new group of the project's for the pod, limited first, then joined: never a moment unlimited."""
    group = cgroups.group_for(controller, pod, pid)
    group.create()
    try:
        limit(group)
        group.add(pid)
    except KernelError:
        with contextlib.suppress(KernelError):
            group.remove()
        raise
    return group


@contextlib.contextmanager
def _undone_on_error(group: cgroups.Cgroup) -> Iterator[None]:
    """A fault that fails half-way removes its group: the caller never got a handle to lift it with."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(KernelError):
            group.remove()
        raise


class CpuThrottle(_PodFault):
    def __init__(self, pod: str, pid: int, cpus: float) -> None:
        super().__init__(pod, pid)
        self.cpus = cpus
        with platform_errors():
            self.group = _confine("cpu", pod, pid, lambda g: g.limit_cpu(cpus))
            with _undone_on_error(self.group):
                self._start = self.group.cpu_stat()
        self._applied()

    def describe(self) -> str:
        return f"{self.group.describe()}: {self.cpus:g} CPU"

    def _verify(self) -> list[str]:
        _require_member(self.group, self.pid)
        limit = self.group.cpu_limit()
        if limit is None or abs(limit - self.cpus) > 0.011:  # the kernel's 1 ms minimum quota rounds
            raise BackendError(f"{self.group.path}: quota reads {limit}, not {self.cpus:g} CPU")
        evidence = [f"{self.pod}: pid {self.pid} in {self.group.procs_file}, quota {limit:g} CPU"]
        if _wait(lambda: self.group.cpu_stat().throttled > self._start.throttled, THROTTLE_WAIT_S):
            stat = self.group.cpu_stat()
            evidence.append(f"{self.pod}: nr_throttled {self._start.throttled} -> {stat.throttled} "
                            f"({stat.throttled_s - self._start.throttled_s:.3f}s throttled)")
        else:
            evidence.append(f"{self.pod}: not throttled yet within {THROTTLE_WAIT_S:g}s (idle: a quota bites "
                            "under load only)")
        return evidence

    def _follow(self, pod: PodInfo) -> str | None:
        return f"restarted pid {_rejoin(self.group, pod)} put in {self.group.path}"

    def _figures(self) -> dict[str, Any]:
        stat = self.group.cpu_stat()
        return {"cgroup": str(self.group.path), "cgroup_version": self.group.version, "cpus": self.cpus,
                "nr_periods": stat.periods - self._start.periods,
                "nr_throttled": stat.throttled - self._start.throttled,
                "throttled_s": round(stat.throttled_s - self._start.throttled_s, 6)}

    def _lift(self) -> str:
        f = self._final
        return (f"{self.group.remove()} (throttled in {f.get('nr_throttled')} of {f.get('nr_periods')} periods, "
                f"{f.get('throttled_s')}s)")


class MemoryLimit(_PodFault):
    def __init__(self, orchestrator: Orchestrator, pod: str, pid: int, limit_bytes: int) -> None:
        super().__init__(pod, pid)
        self._orchestrator = orchestrator
        self.limit_bytes = limit_bytes
        with platform_errors():
            self.group = _confine("memory", pod, pid, lambda g: g.limit_memory(limit_bytes))
            with _undone_on_error(self.group):
                self._start_kills = self.group.oom_kills()
                # The orchestrator must know the group to tell an OOM kill from any other SIGKILL.
                orchestrator.watch_oom(pod, pid, self.group.path)
        self._applied()

    def describe(self) -> str:
        return f"{self.group.describe()}: {self.limit_bytes // MIB} MiB"

    def _verify(self) -> list[str]:
        _require_member(self.group, self.pid)
        limit = self.group.memory_limit()
        # The kernel rounds a limit down to whole pages.
        if limit is None or not 0 <= self.limit_bytes - limit < 64 * 1024:
            raise BackendError(f"{self.group.path}: limit reads {limit}, not {self.limit_bytes}")
        return [f"{self.pod}: pid {self.pid} in {self.group.procs_file}, limit {limit // MIB} MiB "
                f"(charged since it joined: {self.group.memory_usage() / MIB:.1f} MiB)"]

    def _follow(self, pod: PodInfo) -> str | None:
        pid = _rejoin(self.group, pod)
        self._orchestrator.watch_oom(pod.pod, pid, self.group.path)
        return f"restarted pid {pid} put in {self.group.path}"

    def _figures(self) -> dict[str, Any]:
        return {"cgroup": str(self.group.path), "cgroup_version": self.group.version,
                "limit_bytes": self.limit_bytes, "oom_kills": self.group.oom_kills() - self._start_kills,
                "usage_bytes": self.group.memory_usage()}

    def _lift(self) -> str:
        return f"{self.group.remove()} ({self._final.get('oom_kills')} OOM kill(s))"


class PortFault(_PodFault):
    """partition (drop or reject) and packet_loss (drop with a probability) on the pod's port."""

    def __init__(self, pod: str, pid: int, port: int, reject: bool, probability: float | None) -> None:
        super().__init__(pod, pid)
        self.netfilter = netfilter.Netfilter()
        self.rule = netfilter.PortRule(port, reject, probability, label=pod)
        self._packets_before = 0  # of rules for ports the pod no longer listens on (restarts)
        with platform_errors():
            self.netfilter.add(self.rule)
        self._applied()

    def describe(self) -> str:
        return self.rule.describe()

    def _verify(self) -> list[str]:
        if not self.netfilter.present(self.rule):
            raise BackendError(f"the rules for port {self.rule.port} are not in chain {netfilter.CHAIN}")
        port = self.rule.port
        ours = (f"--dport {port} ", f"--sport {port} ")
        listed = [ln.removeprefix("-A ") for ln in self.netfilter.rules() if any(m in ln + " " for m in ours)]
        evidence = [f"{self.pod}: iptables -S {netfilter.CHAIN}: " + " | ".join(listed)]
        if self.rule.probability is None:
            expected = "refused" if self.rule.reject else "timeout"
            outcome = netfilter.connect_probe(port, PROBE_TIMEOUT_S)
            if outcome != expected:
                raise BackendError(f"a connection to 127.0.0.1:{port} was {outcome}, not {expected}")
            evidence.append(f"{self.pod}: a connection to 127.0.0.1:{port} " +
                            ("was refused" if self.rule.reject else f"timed out after {PROBE_TIMEOUT_S:g}s"))
        return evidence

    def _follow(self, pod: PodInfo) -> str | None:
        port = port_of(pod.url)
        if port is None:
            return None  # not listening yet: next time
        if port == self.rule.port:
            return f"restarted pid {pod.pid} on the same port {port}"
        old = self.rule
        self.rule = netfilter.PortRule(port, old.reject, old.probability, label=old.label)
        self.netfilter.add(self.rule)
        with contextlib.suppress(KernelError):
            self._packets_before += self.netfilter.packets(old)
        self.netfilter.delete(old)
        return f"restarted pid {pod.pid} listens on {port}: rules moved from port {old.port}"

    def _figures(self) -> dict[str, Any]:
        return {"port": self.rule.port, "reject": self.rule.reject, "probability": self.rule.probability,
                "packets_matched": self._packets_before + self.netfilter.packets(self.rule)}

    def _lift(self) -> str:
        removed = self.netfilter.delete(self.rule)
        return (f"{self.pod}: removed {len(removed)} rule(s) for port {self.rule.port} from {netfilter.HOOK} and "
                f"{netfilter.CHAIN} ({self._final.get('packets_matched')} packets matched)")


class NoisyNeighbor(_PodFault):
    """stress-ng in the pod's own CPU group, the group capped at ``cpus``: the two share that budget."""

    def __init__(self, pod: str, pid: int, spec: stress.StressSpec, cpus: float, log_dir: Path) -> None:
        super().__init__(pod, pid)
        self.cpus = cpus
        with platform_errors():
            self.group = _confine("cpu", pod, pid, lambda g: g.limit_cpu(cpus))
            with _undone_on_error(self.group):
                self._start = self.group.cpu_stat()
                self.stress = stress.Stress(spec, [self.group.procs_file],
                                            log_dir / f"stress-{pod}-{time.strftime('%Y%m%d-%H%M%S')}.log")
                self.stress.start()
        self._applied()

    def describe(self) -> str:
        s = self.stress.spec
        return (f"stress-ng --{s.kind} {s.workers} --timeout {s.timeout_s:g}s in {self.group.describe()} "
                f"(shared with the pod: {self.cpus:g} CPU)")

    def _verify(self) -> list[str]:
        want = self.stress.spec.workers
        _wait(lambda: self.stress.is_stress_ng() and len(self.stress.workers()) >= want, STRESS_START_S)
        if not self.stress.is_stress_ng():
            tail = self.stress.log_path.read_text(errors="replace")[-300:] if self.stress.log_path.exists() else ""
            raise BackendError(f"stress-ng (pid {self.stress.pid}) is not running: {tail.strip() or 'no output'}")
        workers, procs = self.stress.workers(), set(self.group.procs())
        outside = [p for p in [self.stress.pid, *workers] if p not in procs]
        if outside or self.pid not in procs:
            raise BackendError(f"pid(s) {outside or [self.pid]} are not in {self.group.procs_file}")
        if len(workers) < want:
            raise BackendError(f"stress-ng pid {self.stress.pid} runs {len(workers)} of {want} workers")
        return [f"{self.pod}: stress-ng pid {self.stress.pid} alive with {len(workers)} {self.stress.spec.kind} "
                f"worker(s) {workers}, in {self.group.procs_file} with pid {self.pid} (quota {self.cpus:g} CPU)"]

    def _follow(self, pod: PodInfo) -> str | None:
        return f"restarted pid {_rejoin(self.group, pod)} put in {self.group.path} beside stress-ng"

    def _figures(self) -> dict[str, Any]:
        stat = self.group.cpu_stat()
        return {"cgroup": str(self.group.path), "stress_pid": self.stress.pid, "cpus": self.cpus,
                "nr_throttled": stat.throttled - self._start.throttled,
                "throttled_s": round(stat.throttled_s - self._start.throttled_s, 6)}

    def _lift(self) -> str:
        stopped = self.stress.stop()
        summary = self.stress.summary()
        return f"{stopped}{f' ({summary})' if summary else ''}; {self.group.remove()}"


class StorageLatency(_PodFault):
    """The node's in-process storage-latency knob (engines/node/faults.py), through the orchestrator."""

    def __init__(self, orchestrator: Orchestrator, pod: str, pid: int, latency_s: float) -> None:
        super().__init__(pod, pid)
        self._orchestrator = orchestrator
        self.latency_s = latency_s
        with platform_errors():
            self._answer = orchestrator.set_storage_latency(pod, latency_s)
        self._applied()

    def describe(self) -> str:
        return f"{self.latency_s * 1000:g} ms before each object-storage read of {self.pod} (in-process, in the node)"

    def _verify(self) -> list[str]:
        a = self._answer
        before, after = float(a.get("read_before_s", 0.0)), float(a.get("read_after_s", 0.0))
        if a.get("storage_latency_s") != self.latency_s or after < self.latency_s * LATENCY_TOLERANCE:
            raise BackendError(f"{self.pod}: the node reports latency {a.get('storage_latency_s')} and a storage read "
                               f"of {after * 1000:.1f} ms, not >= {self.latency_s * 1000:g} ms")
        return [f"{self.pod}: a storage read took {before * 1000:.1f} ms before, {after * 1000:.1f} ms after "
                f"(latency {self.latency_s * 1000:g} ms, measured by the node)"]

    def _follow(self, pod: PodInfo) -> str | None:
        if pod.url is None:
            return None  # not serving yet: next time
        self._answer = self._orchestrator.set_storage_latency(pod.pod, self.latency_s)
        return f"restarted pid {pod.pid}: storage latency set again"

    def _figures(self) -> dict[str, Any]:
        # The counts live in the node process: those of a process since replaced died with it.
        now = self._orchestrator.storage_latency(self.pod)
        return {"storage_latency_s": self.latency_s, "pid": self.pid,
                "delayed_reads": int(now.get("delayed_reads", 0)), "delayed_s": float(now.get("delayed_s", 0.0))}

    def _lift(self) -> str:
        try:
            self._orchestrator.set_storage_latency(self.pod, 0.0)
        except OrchestratorError:
            return f"{self.pod}: the process is gone, and its storage latency with it"
        f = self._final
        return f"{self.pod}: storage latency back to 0 ({f.get('delayed_reads')} reads delayed, {f.get('delayed_s')}s)"
