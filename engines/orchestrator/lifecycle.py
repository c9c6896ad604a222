"""The engine lifecycle and its legal transitions.

``STARTING → RUNNING → RESIZING → DRAINING → STOPPING → STOPPED``. An engine serves queries in
RUNNING, RESIZING and DRAINING (some of its clusters are being added or drained); STOPPING means its
pods are being taken down for good. Enforcing the transitions catches orchestration bugs (an upgrade
racing a stop) as errors instead of as a silently inconsistent fleet.
"""

from __future__ import annotations

from enum import StrEnum

from engines.orchestrator.errors import Conflict
from exporters.contract import ENGINE_STATES


class EngineState(StrEnum):
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    RESIZING = "RESIZING"
    DRAINING = "DRAINING"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"


# The contract's label values and this enum must be the same set, in the same order.
assert tuple(s.value for s in EngineState) == ENGINE_STATES

_S = EngineState
TRANSITIONS: dict[EngineState, frozenset[EngineState]] = {
    _S.STARTING: frozenset({_S.RUNNING, _S.STOPPING}),
    # RUNNING → DRAINING: removing clusters or nodes, or the drain before a stop.
    _S.RUNNING: frozenset({_S.RESIZING, _S.DRAINING, _S.STOPPING}),
    # RESIZING → DRAINING: the second half of a scale-in or of a blue-green upgrade.
    _S.RESIZING: frozenset({_S.RUNNING, _S.DRAINING, _S.STOPPING}),
    _S.DRAINING: frozenset({_S.RUNNING, _S.STOPPING}),
    _S.STOPPING: frozenset({_S.STOPPED}),
    _S.STOPPED: frozenset({_S.STARTING}),
}


class IllegalTransition(Conflict):
    def __init__(self, engine: str, current: EngineState, target: EngineState) -> None:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none"
        super().__init__(f"engine {engine!r} cannot go from {current} to {target} (allowed: {allowed})")
        self.engine, self.current, self.target = engine, current, target


def check_transition(engine: str, current: EngineState, target: EngineState) -> None:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(engine, current, target)
