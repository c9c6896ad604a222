"""enginewatch alerts: platform alert rules from the metric contract, their promtool tests, and
Alertmanager routing. The SLO alerts come from the SLO generator (slo/)."""

from alerts.alertmanager import render as render_alertmanager
from alerts.alertmanager import write as write_alertmanager
from alerts.platform import RULE_FILES, alert_names, render, rules
from alerts.profiles import PROFILES, AlertProfile, get_profile
from alerts.rule import AlertRule
from foundation.deployment import DEFAULT_GRAFANA_URL, DEFAULT_RUNBOOK_BASE_URL, Links, runbook_name

__all__ = [
    "DEFAULT_GRAFANA_URL", "DEFAULT_RUNBOOK_BASE_URL", "PROFILES", "RULE_FILES", "AlertProfile", "AlertRule",
    "Links", "alert_names", "get_profile", "render", "render_alertmanager", "rules", "runbook_name",
    "write_alertmanager",
]
