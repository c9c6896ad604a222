"""The engine-state program of a Kubernetes deployment: what the local orchestrator's process serves.

Two jobs, either or both per process:

- ``--metrics-port``: the engine-state exporter (exporters.engine_state) over the Kubernetes source,
  scraped as job ``orchestrator`` so every rule and dashboard works unchanged. One replica: two would
  count every engine twice in sums over the job.
- ``--state-dir``: the gateway's topology file (docs/architecture.md, "Topology file"), kept current
  from the watch. It runs as a sidecar of each gateway pod, sharing an emptyDir with the gateway.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engines.kubernetes.state import Hooks, KubernetesState
from engines.orchestrator.publish import TOPOLOGY_NAME, topology
from engines.orchestrator.snapshot import EngineSnapshot
from exporters.engine_state import EngineStateExporter
from foundation.process import write_atomic

log = logging.getLogger(__name__)


class TopologyWriter:
    """The topology file, rewritten atomically when its content changes, with a growing revision."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / TOPOLOGY_NAME
        self._lock = threading.Lock()
        self._last: str | None = None
        self.revision = 0
        # A gateway that outlived this container (a sidecar restart) must still see the revision grow.
        with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
            self.revision = int(json.loads(self.path.read_text()).get("revision", 0))

    def write(self, engines: Sequence[EngineSnapshot]) -> bool:
        body = topology(engines)
        key = json.dumps(body, sort_keys=True)
        with self._lock:
            if key == self._last:
                return False
            self.revision += 1
            write_atomic(self.path, json.dumps({"revision": self.revision, "written_at": time.time(), **body},
                                               indent=1) + "\n")
            self._last = key
            return True


@dataclass
class Served:
    """What one engine-state process runs: the source, and whichever of exporter and writer it serves."""

    state: KubernetesState
    exporter: EngineStateExporter | None
    writer: TopologyWriter | None


def wire(core: object, apps: object, namespace: str, *, metrics: bool, state_dir: Path | None) -> Served:
    """The source with its consumers hooked in (no thread started, nothing listed yet)."""
    hooks = Hooks()
    state = KubernetesState(core, apps, namespace, hooks)  # type: ignore[arg-type]
    exporter = EngineStateExporter(state.snapshot) if metrics else None
    writer = TopologyWriter(state_dir) if state_dir is not None else None
    if exporter is not None:
        hooks.on_engine, hooks.on_cluster, hooks.on_pod = exporter.add_engine, exporter.add_cluster, exporter.add_pod
        hooks.on_drain = exporter.count_drain

        def on_restart(engine: str, cluster: str, pod: str, reason: str, n: int) -> None:
            for _ in range(n):
                exporter.count_restart(engine, cluster, pod, reason)

        hooks.on_restart = on_restart
    if writer is not None:
        def on_change() -> None:
            try:
                writer.write(state.snapshot())
            except OSError as e:  # a full or read-only volume: the gateway keeps the last good file
                log.error("cannot write %s: %s", writer.path, e)

        hooks.on_change = on_change
    return Served(state, exporter, writer)
