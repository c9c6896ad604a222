"""The platform alerts whose runbooks the dashboards link to, by the names alerts/ gives them.

Nothing is named twice: a renamed alert renames its runbook link, and an alert removed from alerts/
breaks the import here rather than leaving a dead link. The SLO burn alerts are named by the SLO
model (``SLO.alert_name``) and reached through dashboards/slo_series.py.
"""

from __future__ import annotations

from alerts import meta as _meta
from alerts import platform as _platform

ENGINE_NODE_DOWN = _platform.ENGINE_NODE_DOWN
POD_CRASH_LOOPING = _platform.ENGINE_POD_CRASH_LOOPING
#: One alert per transitional state (STARTING, RESIZING, DRAINING) an engine can get stuck in.
ENGINE_STUCK: tuple[str, ...] = tuple(_platform.ENGINE_STUCK.values())
NO_HEALTHY_UPSTREAM = _platform.GATEWAY_NO_HEALTHY_UPSTREAM
FAILOVER_STORM = _platform.GATEWAY_FAILOVER_STORM
SLOTS_SATURATED = _platform.ENGINE_QUERY_SLOTS_SATURATED
QUEUE_GROWING = _platform.ENGINE_QUEUE_GROWING
MEMORY_SATURATION = _platform.ENGINE_MEMORY_SATURATION
NODE_LATENCY_OUTLIER = _platform.ENGINE_NODE_LATENCY_OUTLIER
TARGET_ABSENT = _platform.EXPORTER_TARGET_ABSENT
QUERY_RUNNING_TOO_LONG = _platform.ENGINE_QUERY_RUNNING_TOO_LONG
#: The monitoring pipeline's own alerts: when they fire, every other panel and alert is suspect.
META: tuple[str, ...] = tuple(_meta.alert_names())


def all_names() -> list[str]:
    """Every platform alert, as alerts/ defines them."""
    return _platform.alert_names()
