"""The alerting pipeline itself: does Prometheus evaluate its rules and accept its configuration, and does
Alertmanager answer and deliver? Every question is asked of the components' own series (alerts/meta.py)."""

from __future__ import annotations

from alerts import meta
from exporters import contract as c
from foundation.promql import UP, by, sel
from runbooks.diagnosis.context import Check, Context
from runbooks.diagnosis.model import Finding

RULES = "Rule groups that fail to evaluate"
NOTIFICATIONS = "Notifications Alertmanager failed to deliver, per integration"
RELOAD = "Did Prometheus accept its last configuration?"
ALERTMANAGER = "Does Prometheus scrape Alertmanager?"
WATCHDOG = "Is the Watchdog firing in Prometheus?"
# Long enough to hold a production evaluation failure's retries, short enough to be about now.
WINDOW = "5m"


def _rules(ctx: Context) -> list[Finding]:
    failures = meta.own(meta.RULE_EVALUATION_FAILURES, c.JOB_PROMETHEUS)
    samples = ctx.promql(f"sum {by('rule_group')} (increase({failures}[{WINDOW}])) > 0")
    found = [Finding("problem", f"rule group {s.labels.get('rule_group')} failed {s.value:.0f} evaluations in "
                                f"{WINDOW}: see its lastError in Prometheus' /rules page", RULES)
             for s in sorted(samples, key=lambda s: s.labels.get("rule_group", ""))]
    return found or [Finding("ok", f"no rule group failed to evaluate in {WINDOW}", RULES)]


def _notifications(ctx: Context) -> list[Finding]:
    failed = meta.own(meta.NOTIFICATIONS_FAILED, c.JOB_ALERTMANAGER)
    samples = ctx.promql(f"sum {by('integration')} (increase({failed}[{WINDOW}]))")
    if not samples:
        return [Finding("problem", "Prometheus has no notification series of Alertmanager: it is not scraped",
                        NOTIFICATIONS)]
    return [Finding("problem" if s.value > 0 else "ok",
                    f"{s.labels.get('integration')}: {s.value:.0f} notifications failed in {WINDOW}"
                    + (" (is its receiver up, and its URL right?)" if s.value > 0 else ""), NOTIFICATIONS)
            for s in sorted(samples, key=lambda s: s.labels.get("integration", ""))]


def _reload(ctx: Context) -> list[Finding]:
    reloaded = meta.own(meta.CONFIG_LAST_RELOAD_SUCCESSFUL, c.JOB_PROMETHEUS)
    samples = ctx.promql(reloaded)
    if not samples:
        return [Finding("info", "Prometheus does not scrape itself: its reload status is not recorded", RELOAD)]
    return [Finding("ok" if s.value == 1 else "problem",
                    f"Prometheus {s.labels.get('instance')}: the last reload "
                    + ("succeeded" if s.value == 1 else "was rejected; its log says why (`promtool check config`)"),
                    RELOAD) for s in samples]


def _alertmanager(ctx: Context) -> list[Finding]:
    samples = ctx.promql(f"max {by('instance')} ({sel(UP, job=c.JOB_ALERTMANAGER)})")
    if not samples:
        return [Finding("problem", "Prometheus has no Alertmanager target: nothing checks it is alive", ALERTMANAGER)]
    return [Finding("ok" if s.value == 1 else "problem",
                    f"Alertmanager {s.labels.get('instance')} " + ("answers its scrapes" if s.value == 1
                                                                   else "fails its scrapes: down or hung"),
                    ALERTMANAGER) for s in samples]


def _watchdog(ctx: Context) -> list[Finding]:
    samples = ctx.promql(f'ALERTS{{alertname="{meta.WATCHDOG}", alertstate="firing"}}')
    if samples:
        return [Finding("ok", "the Watchdog fires in Prometheus: rules are evaluated", WATCHDOG)]
    return [Finding("problem", "the Watchdog does not fire: Prometheus evaluates no meta rules", WATCHDOG)]


rules = Check(RULES, "prometheus", _rules)
notifications = Check(NOTIFICATIONS, "prometheus", _notifications)
reload = Check(RELOAD, "prometheus", _reload)
alertmanager = Check(ALERTMANAGER, "prometheus", _alertmanager)
watchdog = Check(WATCHDOG, "prometheus", _watchdog)
