"""Playbooks of engines stuck in a transition: STARTING, RESIZING or DRAINING beyond a bound."""

from __future__ import annotations

from alerts import platform as pl
from alerts.profiles import TRANSITION_STATES
from runbooks.diagnosis import alerts, fleet, gateway, lifecycle
from runbooks.diagnosis.context import Check
from runbooks.playbooks.common import FAILOVER, RESTART_POD, ROLLBACK, SCALE_OUT
from runbooks.playbooks.model import Mitigation, Playbook

_MEANING = {
    "STARTING": ("The engine has been STARTING for longer than a start can take: the orchestrator spawned its "
                 "pods and waits for every one of them to pass its readiness probe, and some never do."),
    "RESIZING": ("The engine has been RESIZING for longer than a resize or a blue-green upgrade can take: the new "
                 "clusters or nodes (the green clusters of an upgrade) do not become ready, and the orchestrator "
                 "waits for them before it switches traffic."),
    "DRAINING": ("The engine has been DRAINING for longer than its grace period allows: removed clusters or the "
                 "blue clusters of an upgrade were sent SIGTERM and do not exit, or the operation hangs after "
                 "the drain."),
}
_IMPACT = {
    "STARTING": "The engine serves nothing, or only with the pods that became ready; no other operation can run.",
    "RESIZING": ("The engine keeps serving on its old clusters, but no other operation (scale, failover, "
                 "upgrade, rollback) can run on it until this one gives up."),
    "DRAINING": ("Queries in flight on the draining pods may be canceled at grace expiry; the engine's next "
                 "operation waits."),
}
_MITIGATIONS: dict[str, tuple[Mitigation, ...]] = {
    "STARTING": (RESTART_POD, SCALE_OUT),
    "RESIZING": (RESTART_POD, ROLLBACK, FAILOVER),
    "DRAINING": (FAILOVER, Mitigation("enginewatch engine scale {engine} --clusters {clusters}",
                                      "once the drain has ended, apply the intended size again")),
}


def playbooks(summaries: dict[str, str]) -> list[Playbook]:
    out = []
    for state in TRANSITION_STATES:
        name = pl.ENGINE_STUCK[state]
        checks: tuple[Check, ...] = (alerts.active(name), lifecycle.state, fleet.operations, fleet.capacity, fleet.pods,
                  fleet.timeline, lifecycle.operations)
        if state == "DRAINING":
            checks += (lifecycle.drains,)
        else:
            checks += (gateway.upstreams,)
        out.append(Playbook(name, summaries[name], _MEANING[state], _IMPACT[state], checks, _MITIGATIONS[state]))
    return out
