"""enginewatch: dashboards — Grafana dashboards written with grafanalib, linted, and provisioned.

Public face::

    build(out_dir, Options(...))   dashboard JSON + Grafana provisioning files under out_dir
    models() / generate()          the dashboards as Grafana JSON dicts / grafanalib objects
    targets()                      (dashboard title, panel title, PromQL with variables) of every target
    Settings(runbook_base_url, slo_profile)   what a deployment may change (models/targets take one)
    render_expr(expr, variables)   PromQL with Grafana variables substituted, ready for Prometheus
    lint_dashboards(models)        the dashboard linter: a sorted list of Finding
    load_dashboards(path)          dashboard JSON from a file or directory, for the linter
    stale()                        committed dashboards/json/ files that no longer match the code
"""

from dashboards.catalog import PanelTarget, generate, models, targets
from dashboards.interpolate import BUILTINS, UnknownVariable, render_expr
from dashboards.links import DEFAULT_RUNBOOK_BASE_URL
from dashboards.lint import RULES, DashboardInputError, Finding, lint_dashboards, load_dashboards
from dashboards.provisioning import COMMITTED_DIR, BuildError, Options, build, stale, write_json
from dashboards.settings import Settings
from foundation.promtool import ToolMissing

__all__ = [
    "BUILTINS", "COMMITTED_DIR", "DEFAULT_RUNBOOK_BASE_URL", "RULES", "BuildError", "DashboardInputError",
    "Finding", "Options", "PanelTarget", "ToolMissing", "Settings", "UnknownVariable", "build", "generate",
    "lint_dashboards", "load_dashboards", "models", "render_expr", "stale", "targets", "write_json",
]
