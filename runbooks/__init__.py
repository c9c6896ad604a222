"""enginewatch runbooks: one playbook per alert (meaning, impact, diagnosis checks, mitigations), the
diagnosis that runs its checks against the live platform, and the pages rendered from it.

The names below load on first use: the CLI imports the orchestrator client for every command, and
should not pay for the playbooks (and the SLO specs they read) unless it diagnoses.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Diagnosis": "runbooks.diagnosis", "Finding": "runbooks.diagnosis", "Scope": "runbooks.diagnosis",
    "diagnose": "runbooks.diagnosis", "diagnose_live": "runbooks.diagnosis", "Playbook": "runbooks.playbooks",
    "get": "runbooks.playbooks", "known_alerts": "runbooks.playbooks", "OrchestratorClient": "foundation.orchestrator",
    "OrchestratorRefused": "foundation.orchestrator", "OrchestratorUnavailable": "foundation.orchestrator",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'runbooks' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
