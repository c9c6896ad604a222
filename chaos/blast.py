"""Blast radius: how much of the platform an experiment may take away, checked twice.

Before the run, on the plan (the pods each step would hit now): at most ``max_pods`` distinct pods,
and every engine keeps ``min_ready_nodes_per_engine`` ready nodes even if all its planned faults
overlapped. Just before each fault, on the live platform: the same floor against the nodes that are
ready at that moment, since an earlier fault may not have healed yet. An engine outage is allowed
only when the experiment says so (``allow_engine_outage``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chaos.backend import PodInfo
from chaos.experiment import BlastRadius

#: Actions that take capacity away. An upgrade adds green before removing blue; a gateway restart
#: touches no engine node. A partitioned node is as good as gone, and a memory limit is there to get
#: it OOM-killed; the other gray faults slow a node down but leave it serving.
CAPACITY_ACTIONS = frozenset({"kill_pod", "terminate_pod", "pause_pod", "kill_cluster", "drain_engine",
                              "partition", "limit_memory"})
#: Actions that take their pods one at a time (a rolling drain replaces each before the next).
ROLLING_ACTIONS = frozenset({"drain_engine"})


@dataclass(frozen=True)
class PlannedFault:
    step: int
    action: str
    engine: str
    pods: tuple[str, ...]


def plan_problems(faults: Sequence[PlannedFault], ready: Mapping[str, int], radius: BlastRadius) -> list[str]:
    """Problems of a plan; ``ready`` is the ready node count per engine before the run."""
    problems = []
    hit = {p for f in faults if f.action in CAPACITY_ACTIONS for p in f.pods}
    if len(hit) > radius.max_pods:
        problems.append(f"blast_radius.max_pods: the method hits {len(hit)} pods ({', '.join(sorted(hit))}), "
                        f"more than {radius.max_pods}")
    for engine, count in sorted(ready.items()):
        down: set[str] = set()
        for f in faults:
            if f.engine != engine or f.action not in CAPACITY_ACTIONS:
                continue
            down |= set(f.pods[:1]) if f.action in ROLLING_ACTIONS else set(f.pods)
        problems += _floor_problems(engine, count - len(down), radius)
    return problems


def live_problems(engine: str, pods: Sequence[PodInfo], hit: Sequence[str], radius: BlastRadius,
                  action: str) -> list[str]:
    """Problems with hitting ``hit`` now, given the live pods."""
    if action not in CAPACITY_ACTIONS:
        return []
    ready = {p.pod for p in pods if p.engine == engine and p.ready}
    lost = set(hit[:1]) if action in ROLLING_ACTIONS else set(hit)
    return _floor_problems(engine, len(ready - lost), radius)


def _floor_problems(engine: str, left: int, radius: BlastRadius) -> list[str]:
    if left >= radius.min_ready_nodes_per_engine:
        return []
    if radius.allow_engine_outage:
        return []
    return [f"blast_radius.min_ready_nodes_per_engine: engine {engine!r} would keep {max(left, 0)} ready "
            f"node(s), fewer than {radius.min_ready_nodes_per_engine} (set blast_radius.allow_engine_outage "
            "to allow it)"]
