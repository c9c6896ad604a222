"""A pod: one engine node process (``python -m engines.node``) that the orchestrator owns.

The pod outlives its processes: a restart (crash loop, liveness failure, restart_pod) starts a new
process for the same pod, as a container restart does in Kubernetes. A drained node gets a new pod
with a new name instead, so nothing keyed by pod name (the gateway's drain mark, metric series) leaks
from the old pod to its replacement.
"""

from __future__ import annotations

import collections
import contextlib
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import httpx

from engines.orchestrator.oom import OomWatch
from foundation.process import LOOPBACK, ManagedProcess, python_module

NODE_MODULE = "engines.node"


class PodState(StrEnum):
    PENDING = "PENDING"  # created, not spawned yet
    STARTING = "STARTING"  # process running, never ready since it started
    READY = "READY"  # readiness probe passes
    UNREADY = "UNREADY"  # was ready, readiness probe fails now (draining by itself, hung ...)
    TERMINATING = "TERMINATING"  # we asked it to exit (drain, restart, stop) and wait for that
    BACKOFF = "BACKOFF"  # exited; a restart is scheduled (CrashLoopBackOff)
    STOPPED = "STOPPED"  # exited for good


#: Pod states with a live process: the node can be scraped and, when ready, queried.
LIVE_STATES = frozenset({PodState.STARTING, PodState.READY, PodState.UNREADY, PodState.TERMINATING})


class Intent(StrEnum):
    RUN = "run"  # keep it running: restart whatever ends it
    RESTART = "restart"  # restart_pod: end this process, start the next one at once
    STOP = "stop"  # drain or stop: do not restart


class Probe(StrEnum):
    READY = "ready"  # 200
    UNREADY = "unready"  # answered, not 200: alive but not serving (starting, draining)
    REFUSED = "refused"  # nobody listens (any more): the node is exiting, or broken
    TIMEOUT = "timeout"  # connected (the kernel accepts for it) but no answer in time: hung


def probe(client: httpx.Client, url: str, timeout: float) -> Probe:
    try:
        response = client.get(f"{url}/readyz", timeout=timeout)
    except httpx.TimeoutException:
        return Probe.TIMEOUT
    except httpx.HTTPError:
        return Probe.REFUSED
    return Probe.READY if response.status_code == 200 else Probe.UNREADY


@dataclass(frozen=True)
class PodConfig:
    """What every pod of the fleet is started with."""

    run_dir: Path  # port files
    log_dir: Path
    storage_dir: Path
    grace_period_s: float
    query_timeout_s: float
    env: dict[str, str] = field(default_factory=dict)
    #: The bearer token of the nodes' admin API (runtime fault knobs), readable by us only.
    admin_token_file: Path | None = None
    #: One directory per pod under it keeps the node's query history across restarts of the pod.
    history_dir: Path | None = None


def pod_name(engine: str, cluster: str, node: str, generation: int) -> str:
    base = f"{engine}-{cluster}-{node}"
    return base if generation == 1 else f"{base}-{generation}"


class Pod:
    """State of one pod. Not thread-safe by itself: the orchestrator's lock guards every mutation."""

    def __init__(self, engine: str, cluster: str, node: str, generation: int, version: str,
                 node_type: str, drain: bool, config: PodConfig, storage_latency_ms: float = 0.0) -> None:
        self.engine, self.cluster, self.node = engine, cluster, node
        self.generation = generation
        self.name = pod_name(engine, cluster, node, generation)
        self.version = version
        self.node_type = node_type
        self.drain = drain
        self.storage_latency_ms = storage_latency_ms
        self.config = config
        self.process: ManagedProcess | None = None
        self.state = PodState.PENDING
        self.intent = Intent.RUN
        #: Why the orchestrator itself ended the process (liveness), read when the exit is seen.
        self.kill_reason: str | None = None
        #: Why the next process of a pod in BACKOFF is started (a contract restart reason).
        self.restart_reason = ""
        #: The memory cgroup the current process was confined to, to tell an OOM kill from a SIGKILL.
        self.oom_watch: OomWatch | None = None
        self.port: int | None = None
        self.restarts: collections.Counter[str] = collections.Counter()
        self.last_exit_code: int | None = None
        self.started_at = 0.0  # monotonic, of the current process
        self.started_wall = 0.0
        self.exited_at: float | None = None  # monotonic, when the supervisor saw the exit
        self.term_sent_at: float | None = None  # monotonic, when a drain (SIGTERM) began
        self.ready_since: float | None = None  # monotonic
        self.next_start_at = 0.0  # monotonic, in BACKOFF
        self.backoff_s = 0.0  # next crash-loop delay; 0 means "initial"
        self.probe_failures = 0  # consecutive probes that timed out
        self.refused_since: float | None = None  # monotonic, first of the current run of refusals
        self.next_probe_at = 0.0
        self.probe_inflight = False

    @property
    def port_file(self) -> Path:
        return self.config.run_dir / f"{self.name}.port"

    @property
    def log_path(self) -> Path:
        return self.config.log_dir / f"{self.name}.log"

    @property
    def url(self) -> str | None:
        return f"http://{LOOPBACK}:{self.port}" if self.port else None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.alive else None

    @property
    def ready(self) -> bool:
        # The state lags a death by up to a supervisor tick; a dead process is never ready.
        return self.state is PodState.READY and self.process is not None and self.process.alive

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    def argv(self) -> list[str]:
        c = self.config
        args = ["--engine", self.engine, "--cluster", self.cluster, "--node", self.node, "--pod", self.name,
                "--version", self.version, "--type", self.node_type, "--storage", str(c.storage_dir),
                "--port", "0", "--port-file", str(self.port_file), "--grace", f"{c.grace_period_s:g}",
                "--query-timeout", f"{c.query_timeout_s:g}"]
        if not self.drain:
            args.append("--no-drain")
        if self.storage_latency_ms:
            args += ["--storage-latency-ms", f"{self.storage_latency_ms:g}"]
        if c.admin_token_file is not None:
            args += ["--admin-token-file", str(c.admin_token_file)]
        if c.history_dir is not None:
            args += ["--history-dir", str(c.history_dir / self.name)]
        return python_module(NODE_MODULE, *args)

    def spawn(self) -> None:
        """Start a new process for this pod; the previous one must have exited."""
        assert self.process is None or not self.process.alive, f"{self.name} still has a live process"
        # A stale port file would point readers at the previous process's (now free) port.
        with contextlib.suppress(FileNotFoundError):
            self.port_file.unlink()
        self.config.run_dir.mkdir(parents=True, exist_ok=True)
        self.config.log_dir.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(self.name, self.argv(), log_path=self.log_path, env=self.config.env)
        self.process.start()
        self.port = None
        self.state = PodState.STARTING
        self.kill_reason = None
        self.oom_watch = None  # a new process starts outside any cgroup chaos made
        self.started_at, self.started_wall = time.monotonic(), time.time()
        self.ready_since = None
        self.exited_at = None
        self.probe_failures = 0
        self.refused_since = None
        self.next_probe_at = 0.0

    def read_port(self) -> bool:
        """Pick up the port the node reported; True when it was new."""
        if self.port is not None:
            return False
        try:
            text = self.port_file.read_text().strip()
        except FileNotFoundError:
            return False
        if not text.isdigit():
            return False  # written atomically by the node, so this is not a partial write: ignore
        self.port = int(text)
        return True

    def signal(self, sig: int) -> bool:
        """Signal our own process only; False when there is none alive."""
        return self.process.signal(sig) if self.process else False

    def poll(self) -> int | None:
        return self.process.poll() if self.process else None

    def oom_killed(self) -> bool:
        """The current (exited) process was in a watched memory cgroup whose OOM killer fired since."""
        watch, process = self.oom_watch, self.process
        return watch is not None and process is not None and process.pid == watch.pid and watch.fired()

    def log_tail(self, lines: int = 20) -> str:
        return self.process.log_tail(lines) if self.process else ""
