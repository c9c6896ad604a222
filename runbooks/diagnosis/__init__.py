"""Diagnoses: a playbook's checks run against the live Prometheus and orchestrator."""

from runbooks.diagnosis.context import Check, Context, DryContext
from runbooks.diagnosis.model import CheckRun, Diagnosis, Finding, MitigationCommand, Scope, Unavailable
from runbooks.diagnosis.run import check_runs, diagnose, diagnose_live

__all__ = ["Check", "CheckRun", "Context", "Diagnosis", "DryContext", "Finding", "MitigationCommand", "Scope",
           "Unavailable", "check_runs", "diagnose", "diagnose_live"]
