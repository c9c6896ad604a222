"""The local orchestrator: engines of a fleet as OS processes, with restarts, resizes, blue-green
upgrades, drains and service-discovery files. See docs/architecture.md, "Orchestrator"."""

from engines.orchestrator.errors import (
    Conflict,
    EngineBusy,
    InvalidRequest,
    NotFound,
    OperationFailed,
    OrchestratorError,
    PodNotRunning,
    UnknownCluster,
    UnknownEngine,
    UnknownPod,
)
from engines.orchestrator.events import Event, EventLog
from engines.orchestrator.fleet import DEFAULT_FLEET, EngineSpec, Fleet, FleetError, load_fleet, parse_fleet
from engines.orchestrator.lifecycle import EngineState, IllegalTransition
from engines.orchestrator.orchestrator import Orchestrator
from engines.orchestrator.pod import PodState
from engines.orchestrator.result import OperationResult
from engines.orchestrator.snapshot import ClusterSnapshot, EngineSnapshot, PodSnapshot

__all__ = [
    "DEFAULT_FLEET", "ClusterSnapshot", "Conflict", "EngineBusy", "EngineSnapshot", "EngineSpec", "EngineState",
    "Event", "EventLog", "Fleet", "FleetError", "IllegalTransition", "InvalidRequest", "NotFound",
    "OperationFailed", "OperationResult", "Orchestrator", "OrchestratorError", "PodNotRunning", "PodSnapshot",
    "PodState", "UnknownCluster", "UnknownEngine", "UnknownPod", "load_fleet", "parse_fleet",
]
