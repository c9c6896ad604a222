"""Service discovery output: Prometheus ``file_sd`` targets and the gateway's topology file.

Both are rewritten atomically, and only when their content changes, so Prometheus and the gateway
(which poll them) see every change within their refresh interval and never a half-written file. The
topology ``revision`` grows with every change: the gateway lets the file's active clusters win over a
switch made through its admin API only when the revision grew.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engines.orchestrator.pod import PodState
from engines.orchestrator.snapshot import EngineSnapshot, PodSnapshot
from foundation.process import LOOPBACK, write_atomic

FILE_SD_NAME = "nodes.json"
TOPOLOGY_NAME = "topology.json"

# The topology speaks the node's lifecycle vocabulary where the pod state maps onto it.
_NODE_STATE = {PodState.READY: "RUNNING", PodState.STARTING: "STARTING", PodState.TERMINATING: "DRAINING",
               PodState.UNREADY: "UNREADY"}


def file_sd_groups(engines: Sequence[EngineSnapshot]) -> list[dict[str, Any]]:
    """One target group per live pod, labelled with the topology labels of the contract."""
    groups = []
    for engine in engines:
        for pod in engine.pods:
            if pod.live:
                groups.append({"targets": [f"{LOOPBACK}:{pod.port}"],
                               "labels": {"engine": pod.engine, "cluster": pod.cluster, "node": pod.node,
                                          "pod": pod.pod, "version": pod.version}})
    return sorted(groups, key=lambda g: g["labels"]["pod"])


def _node_entry(pod: PodSnapshot) -> dict[str, Any]:
    return {"node": pod.node, "pod": pod.pod, "url": pod.url, "ready": pod.ready,
            "state": _NODE_STATE.get(PodState(pod.state), pod.state)}


def topology(engines: Sequence[EngineSnapshot]) -> dict[str, Any]:
    """The topology document without its revision (the part whose change bumps the revision)."""
    return {"engines": {
        e.name: {"state": e.state, "version": e.version, "active_clusters": list(e.active_clusters),
                 "clusters": {c.name: {"version": c.version, "state": c.state,
                                       "nodes": [_node_entry(p) for p in c.pods if p.live]}
                              for c in e.clusters}}
        for e in engines}}


class Publisher:
    def __init__(self, state_dir: Path) -> None:
        self.file_sd_path = state_dir / "file_sd" / FILE_SD_NAME
        self.topology_path = state_dir / TOPOLOGY_NAME
        self._lock = threading.Lock()  # operations and the supervisor both publish
        self._last_sd: str | None = None
        self._last_topology: str | None = None
        self.revision = self._previous_revision()

    def _previous_revision(self) -> int:
        # A gateway that outlived a previous orchestrator must still see the revision grow.
        with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
            return int(json.loads(self.topology_path.read_text()).get("revision", 0))
        return 0

    def publish(self, snapshot: Callable[[], Sequence[EngineSnapshot]]) -> bool:
        """Write whatever changed; True when the topology got a new revision.

        The snapshot is taken under our lock: two publishers racing can then never write an older
        snapshot over a newer one.
        """
        with self._lock:
            engines = snapshot()
            sd = json.dumps(file_sd_groups(engines), indent=1)
            body = topology(engines)
            key = json.dumps(body, sort_keys=True)
            if sd != self._last_sd:
                write_atomic(self.file_sd_path, sd + "\n")
                self._last_sd = sd
            if key == self._last_topology:
                return False
            self.revision += 1
            document = {"revision": self.revision, "written_at": time.time(), **body}
            write_atomic(self.topology_path, json.dumps(document, indent=1) + "\n")
            self._last_topology = key
            return True
