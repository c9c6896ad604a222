"""Which node gets the next attempt: least outstanding requests among the routable ones.

Least-outstanding beats round-robin here because query costs differ by orders of magnitude (a lookup
vs a scan): a node stuck on a scan, or hung, accumulates outstanding attempts and stops being chosen
long before any health check notices it. Ties are broken at random so that an idle fleet still
spreads the load.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from engines.gateway.upstream import Upstream


def choose(candidates: Sequence[Upstream], tried: Sequence[Upstream] = (),
           rng: Callable[[], float] = random.random) -> Upstream | None:
    """The best routable node; ``tried`` are the nodes this query already went to.

    Preference, most important first: a node not tried yet for this query; a node whose last
    health check passed; a cluster not tried yet (a cluster-wide fault, e.g. a bad version, should
    not eat every retry); the fewest outstanding attempts.
    """
    tried_clusters = {u.cluster for u in tried}
    best: Upstream | None = None
    best_key: tuple[bool, bool, bool, int] | None = None
    ties = 0
    for u in candidates:
        if not u.routable or not u.breaker.allows():
            continue
        key = (u in tried, u.suspect, u.cluster in tried_clusters, u.outstanding)
        if best_key is None or key < best_key:
            best, best_key, ties = u, key, 1
        elif key == best_key:
            ties += 1
            if rng() * ties < 1:  # reservoir sampling: every tied node equally likely
                best = u
    return best
