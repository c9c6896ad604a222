"""Meta-monitoring: alerts about the alerting pipeline itself (Prometheus, its rules, Alertmanager).

Every other alert depends on this pipeline, so its failures are silent by nature: a rule that fails
to evaluate never fires, a notification that cannot be delivered pages nobody. These alerts make each
failure loud, and the Watchdog fires always, so that a receiver outside the platform (a dead man's
switch service) notices when its notifications stop: then the pipeline as a whole is down.

The series are Prometheus' and Alertmanager's own, not the metric contract's: they exist once the
stack scrapes Prometheus (job ``prometheus``) and Alertmanager (job ``alertmanager``) themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.profiles import AlertProfile
from alerts.rule import ALWAYS_FIRING_SEVERITY, AlertRule
from exporters import contract as c
from foundation import deployment as dash
from foundation.durations import format_duration as d
from foundation.promql import UP, Matcher, Selector, by, sel

WATCHDOG = "Watchdog"
PROMETHEUS_RULE_EVALUATION_FAILURES = "PrometheusRuleEvaluationFailures"
ALERTMANAGER_NOTIFICATIONS_FAILING = "AlertmanagerNotificationsFailing"
PROMETHEUS_CONFIG_RELOAD_FAILED = "PrometheusConfigReloadFailed"
ALERTMANAGER_DOWN = "AlertmanagerDown"

RULE_EVALUATION_FAILURES = "prometheus_rule_evaluation_failures_total"
NOTIFICATIONS_FAILED = "alertmanager_notifications_failed_total"
CONFIG_LAST_RELOAD_SUCCESSFUL = "prometheus_config_last_reload_successful"


def own(metric: str, job: str) -> str:
    """A selector of a monitoring component's own series: outside the contract, so only its job is checked."""
    return Selector(metric, (Matcher("job", "=", job),)).promql()


@dataclass(frozen=True)
class MetaTiming:
    window: int  # seconds of failures an increase() looks at
    rule_failures_for: int
    notifications_for: int
    reload_for: int
    alertmanager_down_for: int


#: Locally a broken rule or receiver must show within seconds (the live tests break both); in
#: production a single failed evaluation or notification is retried, so the failures must persist.
TIMINGS: dict[str, MetaTiming] = {
    "local": MetaTiming(window=10, rule_failures_for=5, notifications_for=5, reload_for=5, alertmanager_down_for=5),
    "production": MetaTiming(window=300, rule_failures_for=900, notifications_for=600, reload_for=600,
                             alertmanager_down_for=300),
}


def timing(p: AlertProfile) -> MetaTiming:
    return TIMINGS[p.name]


def watchdog(p: AlertProfile) -> AlertRule:
    # vector(1) is also how the chaos steady-state check recognises a dead man's switch; the severity
    # "none" keeps it off every page, ticket and false-page count.
    return AlertRule(
        WATCHDOG, "vector(1)", ALWAYS_FIRING_SEVERITY,
        "The alerting pipeline is alive: this alert fires always.",
        "This alert fires always (value {{ $value }}): its notifications reach the dead man's switch receiver "
        "every repeat interval. When they stop, Prometheus, Alertmanager or the route between them is down and "
        "no other alert can page.",
        dash.OVERVIEW, (),
    )


def rule_evaluation_failures(p: AlertProfile) -> AlertRule:
    t = timing(p)
    failures = own(RULE_EVALUATION_FAILURES, c.JOB_PROMETHEUS)
    expr = f"sum {by('job', 'instance', 'rule_group')} (increase({failures}[{d(t.window)}])) > 0"
    return AlertRule(
        PROMETHEUS_RULE_EVALUATION_FAILURES, expr, "critical",
        "Prometheus fails to evaluate some of its rules.",
        "Prometheus {{ $labels.instance }} has failed to evaluate rules of group {{ $labels.rule_group }} for "
        f"{d(t.rule_failures_for)}: those recording rules produce no series and those alerts cannot fire, "
        "whatever happens on the platform.",
        dash.OVERVIEW, ("job", "instance", "rule_group"), t.rule_failures_for,
    )


def notifications_failing(p: AlertProfile) -> AlertRule:
    t = timing(p)
    failed = own(NOTIFICATIONS_FAILED, c.JOB_ALERTMANAGER)
    expr = f"sum {by('job', 'instance', 'integration')} (increase({failed}[{d(t.window)}])) > 0"
    return AlertRule(
        ALERTMANAGER_NOTIFICATIONS_FAILING, expr, "warning",
        "Alertmanager fails to deliver notifications.",
        "Alertmanager {{ $labels.instance }} has failed to deliver {{ $labels.integration }} notifications for "
        f"{d(t.notifications_for)}: pages and tickets routed to that receiver reach nobody.",
        dash.OVERVIEW, ("job", "instance", "integration"), t.notifications_for,
    )


def config_reload_failed(p: AlertProfile) -> AlertRule:
    t = timing(p)
    reloaded = own(CONFIG_LAST_RELOAD_SUCCESSFUL, c.JOB_PROMETHEUS)
    return AlertRule(
        PROMETHEUS_CONFIG_RELOAD_FAILED, f"max {by('job', 'instance')} ({reloaded}) == 0", "critical",
        "Prometheus rejected its configuration at the last reload.",
        "Prometheus {{ $labels.instance }} has run on an older configuration for "
        f"{d(t.reload_for)} because it rejected the last reload: new scrape jobs, targets and rule files are "
        "not in effect, and the next restart fails to start at all.",
        dash.OVERVIEW, ("job", "instance"), t.reload_for,
    )


def alertmanager_down(p: AlertProfile) -> AlertRule:
    t = timing(p)
    return AlertRule(
        ALERTMANAGER_DOWN, f"max {by('job', 'instance')} ({sel(UP, job=c.JOB_ALERTMANAGER)}) == 0", "critical",
        "Prometheus cannot scrape Alertmanager.",
        "Prometheus has failed to scrape Alertmanager {{ $labels.instance }} for "
        f"{d(t.alertmanager_down_for)}: it is down or hung, and alerts firing now may notify nobody (the "
        "Watchdog's receiver notices the silence).",
        dash.OVERVIEW, ("job", "instance"), t.alertmanager_down_for,
    )


def rules(p: AlertProfile) -> tuple[AlertRule, ...]:
    return (watchdog(p), rule_evaluation_failures(p), notifications_failing(p), config_reload_failed(p),
            alertmanager_down(p))


def alert_names() -> list[str]:
    return [WATCHDOG, PROMETHEUS_RULE_EVALUATION_FAILURES, ALERTMANAGER_NOTIFICATIONS_FAILING,
            PROMETHEUS_CONFIG_RELOAD_FAILED, ALERTMANAGER_DOWN]
