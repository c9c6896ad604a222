"""The platform alerts whose runbooks the dashboards link to, named once.

alerts/ defines these alerts and runbooks/ holds ``<AlertName>.md`` for each; the names here must be
theirs (tests/test_dashboards_links.py checks the runbook files once runbooks/ has any). The SLO
alerts are named by the SLO model (``SLO.alert_name``) and reached through dashboards/slo_series.py.
"""

from __future__ import annotations

ENGINE_NODE_DOWN = "EngineNodeDown"
POD_CRASH_LOOPING = "EnginePodCrashLooping"
ENGINE_STUCK = "EngineStuckInTransition"
NO_HEALTHY_UPSTREAM = "GatewayNoHealthyUpstream"
FAILOVER_STORM = "GatewayFailoverStorm"
SLOTS_SATURATED = "EngineQuerySlotsSaturated"
QUEUE_GROWING = "EngineQueryQueueGrowing"
MEMORY_SATURATION = "EngineMemorySaturation"
TARGET_ABSENT = "EnginewatchTargetAbsent"

ALL: tuple[str, ...] = (
    ENGINE_NODE_DOWN, POD_CRASH_LOOPING, ENGINE_STUCK, NO_HEALTHY_UPSTREAM, FAILOVER_STORM,
    SLOTS_SATURATED, QUEUE_GROWING, MEMORY_SATURATION, TARGET_ABSENT,
)
