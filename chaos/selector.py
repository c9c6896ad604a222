"""Target selection: which pods (or clusters) a step hits, with Chaos Mesh's modes.

``one`` picks one candidate, ``fixed`` N, ``percent`` P% (rounded up: a percentage of a small fleet
must still hit something), ``all`` every candidate. Candidates are the live pods matching engine,
cluster and pod; the choice is seeded so that a rerun of an experiment hits the same pods.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from chaos.backend import PodInfo
from chaos.experiment import Target


class NoTarget(LookupError):
    """The selector matches nothing alive: the fault cannot be injected."""


def candidates(target: Target, pods: Sequence[PodInfo]) -> list[PodInfo]:
    return [p for p in pods
            if p.engine == target.engine
            and (target.cluster is None or p.cluster == target.cluster)
            and (target.pod is None or p.pod == target.pod)
            and p.pid is not None]


def count(mode: str, value: float | None, available: int) -> int:
    """How many of ``available`` candidates the mode selects."""
    if available <= 0:
        return 0
    if mode == "one":
        return 1
    if mode == "all":
        return available
    assert value is not None, f"mode {mode} needs a value"
    if mode == "fixed":
        return min(int(value), available)
    return min(available, max(1, math.ceil(available * value / 100)))


def select_pods(target: Target, pods: Sequence[PodInfo], seed: int = 0,
                prefer: dict[str, float] | None = None) -> list[PodInfo]:
    """The pods to hit. ``prefer`` (pod -> score, e.g. in-flight queries) picks the highest scores first."""
    pool = sorted(candidates(target, pods), key=lambda p: p.pod)
    if not pool:
        raise NoTarget(f"no live pod matches {target.describe()}")
    n = count(target.mode, target.value, len(pool))
    random.Random(seed).shuffle(pool)
    if prefer:
        pool.sort(key=lambda p: -prefer.get(p.pod, 0.0))  # stable: ties keep the seeded order
    return sorted(pool[:n], key=lambda p: p.pod)


def select_clusters(target: Target, pods: Sequence[PodInfo], seed: int = 0) -> list[str]:
    """Clusters to hit (kill_cluster): the mode counts clusters, not pods."""
    names = sorted({p.cluster for p in candidates(target, pods)})
    if not names:
        raise NoTarget(f"no live cluster matches {target.describe()}")
    n = count(target.mode, target.value, len(names))
    random.Random(seed).shuffle(names)
    return sorted(names[:n])
