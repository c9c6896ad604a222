"""How long and how much before each platform alert fires, per deployment profile.

The local profile matches the local stack (1 s scrape and evaluation, chaos experiments that last
seconds): an induced fault must show up as an alert within seconds. The production profile matches a
15 s scrape and asks for conditions to hold for minutes, so that a rolling restart or a short burst
does not page anyone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from foundation.deployment import cadence

#: Engine lifecycle states that are transitions: an engine should leave them on its own.
TRANSITION_STATES: tuple[str, ...] = ("STARTING", "RESIZING", "DRAINING")


@dataclass(frozen=True)
class AlertProfile:
    name: str
    interval: int  # seconds between scrapes and rule evaluations that the rules assume
    node_down_for: int
    crashloop_window: int
    crashloop_restarts: int  # fires at this many restarts within the window (or more)
    crashloop_for: int
    stuck_for: dict[str, int] = field(default_factory=dict)  # per transition state
    no_upstream_for: int = 0
    failover_window: int = 0
    failover_rate: float = 0.0  # failovers per second
    failover_for: int = 0
    slots_ratio: float = 0.9
    slots_for: int = 0
    queue_window: int = 0
    queue_for: int = 0
    memory_ratio: float = 0.9
    memory_for: int = 0
    # A node's latency against its cluster's fastest node: health checks at the gateway, and lookups.
    outlier_window: int = 0
    outlier_ratio: float = 5.0
    outlier_probe_floor: float = 0.02  # seconds: a mean health check slower than this, and ratio x the fastest
    outlier_lookup_floor: float = 0.1  # seconds: the same for the node's mean lookup
    outlier_ejected_share: float = 0.5  # of the window spent ejected by the gateway as a latency outlier
    outlier_throttled_ratio: float = 0.5  # of the node's CPU periods in which its cgroup's quota throttled it
    outlier_throttled_range: int = 0  # seconds of periods one throttling ratio is taken over
    outlier_for: int = 0
    outlier_keep_firing_for: int = 0
    absent_for: int = 0
    #: A query executing longer than this (seconds) holds a slot that others queue for.
    long_query_s: float = 0.0
    long_query_for: int = 0

    def __post_init__(self) -> None:
        if set(self.stuck_for) != set(TRANSITION_STATES):
            raise ValueError(f"profile {self.name}: stuck_for needs exactly {TRANSITION_STATES}")


# The rules assume the cadence that the deployment config gives Prometheus.
_LOCAL, _PRODUCTION = cadence("local"), cadence("production")

PROFILES: dict[str, AlertProfile] = {
    "local": AlertProfile(
        name="local", interval=_LOCAL.evaluation_interval,
        # Prometheus 2.42 delivers a new file_sd target up to 5 s after the file changes, so a pod that
        # just started (a blue-green green cluster, a replacement) is unscraped for ~6 s: wait past that,
        # and then for five missed scrapes.
        node_down_for=_LOCAL.discovery_delay + 5 * _LOCAL.scrape_interval,
        crashloop_window=60, crashloop_restarts=3, crashloop_for=0,
        # A local start takes ~5 s and a drain at most grace + slack (15 s): these are 3-6x that.
        stuck_for={"STARTING": 90, "RESIZING": 90, "DRAINING": 45},
        no_upstream_for=3,
        failover_window=30, failover_rate=0.5, failover_for=10,
        slots_ratio=0.9, slots_for=10,
        queue_window=30, queue_for=10,
        memory_ratio=0.9, memory_for=10,
        # A throttled node under load must page within a minute: half a 30 s window out, then 10 s.
        # Kept firing for a window: while the gateway's ejection takes over from the throttling or the
        # latency as the evidence (an ejected node is idle), neither may hold for a moment.
        outlier_window=30, outlier_for=10, outlier_keep_firing_for=30, outlier_throttled_range=5,
        absent_for=10,
        # The local query timeout is 30 s: a third of it is long for a warehouse query on a laptop.
        long_query_s=10, long_query_for=2,
    ),
    "production": AlertProfile(
        name="production", interval=_PRODUCTION.evaluation_interval,
        node_down_for=180,
        crashloop_window=900, crashloop_restarts=3, crashloop_for=300,
        stuck_for={"STARTING": 900, "RESIZING": 1800, "DRAINING": 900},
        no_upstream_for=60,
        failover_window=300, failover_rate=1.0, failover_for=300,
        slots_ratio=0.9, slots_for=900,
        queue_window=300, queue_for=600,
        memory_ratio=0.9, memory_for=600,
        outlier_window=300, outlier_for=600, outlier_keep_firing_for=300, outlier_throttled_range=60,
        absent_for=600,
        long_query_s=900, long_query_for=60,
    ),
}


def get_profile(name: str) -> AlertProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown alert profile {name!r}; known: {', '.join(PROFILES)}") from None
