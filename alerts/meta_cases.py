"""promtool unit-test cases of the meta-monitoring alerts (alerts/meta.py), in the style of alerts/cases.py.

Each firing case starts healthy, breaks at ``t0``, and asserts silence one interval before ``for:``
has elapsed and the exact alert one interval after; each silent case is the near miss on-call must
not be woken for (a failure long past, a rejected reload fixed within the bound).
"""

from __future__ import annotations

from alerts import meta
from alerts.cases import Case, CaseBuilder, Expected, hold, ramp, series
from alerts.profiles import AlertProfile
from exporters import contract as c
from foundation.durations import format_duration as d
from foundation.promql import UP

PROM = {"job": c.JOB_PROMETHEUS, "instance": "127.0.0.1:9090"}
AM = {"job": c.JOB_ALERTMANAGER, "instance": "127.0.0.1:9093"}
BROKEN_GROUP = "/etc/prometheus/rules.yml;broken"
GOOD_GROUP = "/etc/prometheus/rules.yml;enginewatch-nodes"


class _Shape:
    """Sample counts of a case: ``before`` healthy samples (over a whole window), then the fault."""

    def __init__(self, p: AlertProfile, for_: int) -> None:
        w = meta.timing(p).window
        self.i = p.interval
        self.before = w // self.i + 2
        self.t0 = self.before * self.i  # the first evaluation at which the condition holds
        self.k = for_ // self.i
        self.total = self.before + (w + for_) // self.i + 10
        self.eval_at = self.t0 + for_ + self.i
        self.quiet_at = self.t0 + for_ - self.i


def watchdog(p: AlertProfile) -> list[Case]:
    fire = Case(meta.WATCHDOG, "fires with nothing else to judge", [series(UP, PROM, hold(1, 5))], p.interval, [
        Expected({}, ("This alert fires always (value 1): its notifications reach the dead man's switch receiver "
                      "every repeat interval. When they stop, Prometheus, Alertmanager or the route between them "
                      "is down and no other alert can page."))])
    return [fire]


def rule_evaluation_failures(p: AlertProfile) -> list[Case]:
    t = meta.timing(p)
    s = _Shape(p, t.rule_failures_for)

    def failures(group: str, values: str) -> dict[str, str]:
        return series(meta.RULE_EVALUATION_FAILURES, {**PROM, "rule_group": group}, values)

    fire = Case(meta.PROMETHEUS_RULE_EVALUATION_FAILURES, "one group fails at every evaluation; another never", [
        failures(BROKEN_GROUP, f"{hold(0, s.before)} {ramp(1, 1, s.total - s.before)}"),
        failures(GOOD_GROUP, hold(0, s.total)),
    ], s.eval_at, [Expected({**PROM, "rule_group": BROKEN_GROUP}, (
        f"Prometheus 127.0.0.1:9090 has failed to evaluate rules of group {BROKEN_GROUP} for "
        f"{d(t.rule_failures_for)}: those recording rules produce no series and those alerts cannot fire, "
        "whatever happens on the platform."))], quiet_at=s.quiet_at)
    silent = Case(meta.PROMETHEUS_RULE_EVALUATION_FAILURES, "one failed evaluation long before the window", [
        failures(BROKEN_GROUP, f"{hold(0, 3)} {hold(1, s.total - 3)}"),
        failures(GOOD_GROUP, hold(0, s.total)),
    ], s.eval_at)
    return [fire, silent]


def notifications_failing(p: AlertProfile) -> list[Case]:
    t = meta.timing(p)
    s = _Shape(p, t.notifications_for)

    def failed(integration: str, values: str) -> dict[str, str]:
        return series(meta.NOTIFICATIONS_FAILED, {**AM, "integration": integration}, values)

    fire = Case(meta.ALERTMANAGER_NOTIFICATIONS_FAILING, "the webhook receiver stops answering; email never fails", [
        failed("webhook", f"{hold(0, s.before)} {ramp(1, 1, s.total - s.before)}"),
        failed("email", hold(0, s.total)),
    ], s.eval_at, [Expected({**AM, "integration": "webhook"}, (
        f"Alertmanager 127.0.0.1:9093 has failed to deliver webhook notifications for {d(t.notifications_for)}: "
        "pages and tickets routed to that receiver reach nobody."))], quiet_at=s.quiet_at)
    silent = Case(meta.ALERTMANAGER_NOTIFICATIONS_FAILING, "a notification failed long ago, then all were delivered", [
        failed("webhook", f"{hold(0, 3)} {hold(2, s.total - 3)}"),
    ], s.eval_at)
    return [fire, silent]


def config_reload_failed(p: AlertProfile) -> list[Case]:
    t = meta.timing(p)
    s = _Shape(p, t.reload_for)
    reloaded = meta.CONFIG_LAST_RELOAD_SUCCESSFUL
    fire = Case(meta.PROMETHEUS_CONFIG_RELOAD_FAILED, "a reload is rejected and nobody fixes the file", [
        series(reloaded, PROM, f"{hold(1, s.before)} {hold(0, s.total - s.before)}"),
    ], s.eval_at, [Expected(PROM, (
        f"Prometheus 127.0.0.1:9090 has run on an older configuration for {d(t.reload_for)} because it rejected "
        "the last reload: new scrape jobs, targets and rule files are not in effect, and the next restart fails "
        "to start at all."))], quiet_at=s.quiet_at)
    silent = Case(meta.PROMETHEUS_CONFIG_RELOAD_FAILED, "a rejected reload fixed within the bound", [
        series(reloaded, PROM, f"{hold(1, s.before)} {hold(0, s.k - 1)} {hold(1, s.total - s.before - s.k + 1)}"),
    ], s.eval_at)
    return [fire, silent]


def alertmanager_down(p: AlertProfile) -> list[Case]:
    t = meta.timing(p)
    s = _Shape(p, t.alertmanager_down_for)
    fire = Case(meta.ALERTMANAGER_DOWN, "Alertmanager stops answering its scrapes", [
        series(UP, AM, f"{hold(1, s.before)} {hold(0, s.total - s.before)}"),
        series(UP, PROM, hold(1, s.total)),
    ], s.eval_at, [Expected(AM, (
        f"Prometheus has failed to scrape Alertmanager 127.0.0.1:9093 for {d(t.alertmanager_down_for)}: it is down "
        "or hung, and alerts firing now may notify nobody (the Watchdog's receiver notices the silence)."))],
        quiet_at=s.quiet_at)
    silent = Case(meta.ALERTMANAGER_DOWN, "failed scrapes for less than the bound", [
        series(UP, AM, f"{hold(1, s.before)} {hold(0, s.k - 1)} {hold(1, s.total - s.before - s.k + 1)}"),
    ], s.eval_at)
    return [fire, silent]


BUILDERS: tuple[CaseBuilder, ...] = (
    watchdog, rule_evaluation_failures, notifications_failing, config_reload_failed, alertmanager_down,
)


def cases(profile: AlertProfile) -> list[Case]:
    return [case for build in BUILDERS for case in build(profile)]
