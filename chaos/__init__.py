"""enginewatch chaos: experiments that kill, terminate, hang and upgrade pods under load or put gray faults
on them with real kernel mechanisms, verdicts proven from a per-query ledger, the platform's events and
Prometheus, and game day reports. See docs/chaos.md."""

from chaos.backend import BackendError, ChaosBackend, EngineInfo, PodFault, PodInfo, Unsupported
from chaos.backends import HttpBackend, LocalBackend
from chaos.experiment import Experiment, ExperimentError, load_experiment, parse_experiment
from chaos.fault import Fault
from chaos.journal import Journal
from chaos.report import write_experiment_report
from chaos.run import Interrupted, Plan, PlanError, Platform, plan, run_experiment
from chaos.verdicts import Verdict

__all__ = [
    "BackendError", "ChaosBackend", "EngineInfo", "Experiment", "ExperimentError", "Fault", "HttpBackend",
    "Interrupted", "Journal", "LocalBackend", "Plan", "PlanError", "Platform", "PodFault", "PodInfo", "Unsupported",
    "Verdict", "load_experiment", "parse_experiment", "plan", "run_experiment", "write_experiment_report",
]
