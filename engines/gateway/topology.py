"""The topology file the orchestrator writes, and the watcher that reloads it when it changes.

The file is replaced atomically (write + rename), so a change shows as a new inode or mtime; the
watcher polls ``stat`` every 100 ms, which costs nothing, and parses only when the file changed.
A file that does not parse is reported once and the last good topology stays in force.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.1


class TopologyError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class NodeSpec:
    node: str
    pod: str
    url: str
    state: str = "RUNNING"


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    name: str
    version: str
    nodes: tuple[NodeSpec, ...]


@dataclass(frozen=True, slots=True)
class EngineSpec:
    name: str
    state: str
    active_clusters: tuple[str, ...]
    clusters: dict[str, ClusterSpec]


@dataclass(frozen=True, slots=True)
class Topology:
    revision: int
    engines: dict[str, EngineSpec]

    @classmethod
    def empty(cls) -> Topology:
        return cls(revision=-1, engines={})

    @classmethod
    def from_dict(cls, doc: Any) -> Topology:
        try:
            return cls(revision=int(doc["revision"]),
                       engines={str(name): _engine(str(name), spec)
                                for name, spec in dict(doc.get("engines") or {}).items()})
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TopologyError(f"malformed topology: {exc!r}") from exc


def _engine(name: str, doc: dict[str, Any]) -> EngineSpec:
    clusters = {
        str(cname): ClusterSpec(
            name=str(cname), version=str(cdoc.get("version", "")),
            nodes=tuple(NodeSpec(node=str(n["node"]), pod=str(n["pod"]), url=str(n["url"]),
                                 state=str(n.get("state", "RUNNING")))
                        for n in cdoc.get("nodes") or ()),
        )
        for cname, cdoc in dict(doc.get("clusters") or {}).items()
    }
    # A cluster named active but absent from the file cannot take queries: drop it, don't fail.
    active = tuple(str(c) for c in doc.get("active_clusters", list(clusters)) if str(c) in clusters)
    return EngineSpec(name=name, state=str(doc.get("state", "RUNNING")), active_clusters=active,
                      clusters=clusters)


def load_topology(path: Path) -> Topology:
    try:
        doc = json.loads(path.read_text())
    except ValueError as exc:
        raise TopologyError(f"{path}: not JSON: {exc}") from exc
    return Topology.from_dict(doc)


class TopologyWatcher:
    """Calls ``on_change(topology)`` at start and whenever the file changes."""

    def __init__(self, path: Path, on_change: Callable[[Topology], None],
                 interval_s: float = POLL_INTERVAL_S) -> None:
        self.path = path
        self.on_change = on_change
        self.interval_s = interval_s
        self._seen: tuple[int, int, int] | None = None
        self._task: asyncio.Task[None] | None = None

    def poll(self) -> bool:
        """Reload if the file changed since the last poll; True when a new topology was applied."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp == self._seen:
            return False
        self._seen = stamp
        try:
            topology = load_topology(self.path)
        except (OSError, TopologyError) as exc:
            log.error("keeping the previous topology: %s", exc)
            return False
        self.on_change(topology)
        return True

    def start(self) -> None:
        self.poll()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="topology-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                self.poll()
            except Exception:  # a bug in applying one topology must not stop all later reloads
                log.exception("applying the topology failed")
