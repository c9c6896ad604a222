"""SLOs for the engine platform: specs → model → Prometheus rules, live budgets and backtests.

The public face; everything else is reachable through its module (``slo.rules``, ``slo.windows``).
"""

from slo.errors import DataSourceError, NotSupportedError, SpecError
from slo.loaders import load_paths
from slo.model import SLO, Alerting, EventsSLI, RawSLI, Tier
from slo.rules import Options, generate, prometheus_rule, rule_file
from slo.specs import platform_slos
from slo.windows import PROFILES, WindowProfile, effective_tiers, profile_for

__all__ = [
    "SLO", "Alerting", "EventsSLI", "RawSLI", "Tier", "WindowProfile", "PROFILES",
    "SpecError", "NotSupportedError", "DataSourceError",
    "load_paths", "platform_slos", "profile_for", "effective_tiers",
    "Options", "generate", "rule_file", "prometheus_rule",
]
