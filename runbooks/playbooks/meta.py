"""Playbooks of the meta-monitoring alerts: the alerting pipeline itself (alerts/meta.py)."""

from __future__ import annotations

from alerts import meta as m
from runbooks.diagnosis import alerts, meta
from runbooks.playbooks.model import Mitigation, Playbook

CHECK_ALERTS = Mitigation("enginewatch alerts check",
                          "promtool checks every rule file and runs its tests; amtool checks the routing")
RESTART_STACK = Mitigation("enginewatch up", "restart the local stack: Prometheus and Alertmanager with the "
                                             "committed rules and routing, and receivers that answer")
STATUS = Mitigation("enginewatch status", "see which components the stack runs, and their URLs")


def playbooks(summaries: dict[str, str]) -> list[Playbook]:
    return [
        Playbook(
            m.WATCHDOG, summaries[m.WATCHDOG],
            meaning=("The dead man's switch: it fires always, and Alertmanager sends it to its own receiver every "
                     "repeat interval. Its presence is the good news; the receiver (a dead man's switch service) "
                     "raises the alarm when it stops hearing from it."),
            impact=("None while it fires. When its notifications stop, Prometheus, Alertmanager or the route between "
                    "them is down, and no other alert can page anyone."),
            checks=(meta.watchdog, meta.alertmanager, meta.notifications),
            mitigations=(STATUS, RESTART_STACK),
        ),
        Playbook(
            m.PROMETHEUS_RULE_EVALUATION_FAILURES, summaries[m.PROMETHEUS_RULE_EVALUATION_FAILURES],
            meaning=("Prometheus evaluates a rule group and some rule of it fails at evaluation time: a many-to-many "
                     "match, duplicate series after a label change, a query that hits a limit. `promtool check "
                     "rules` does not catch these: the rule is valid, its data is not."),
            impact=("The failing recording rules write no series and the failing alerts cannot fire: an SLO's burn "
                    "rate or a platform alert is blind while the platform may be failing."),
            checks=(alerts.active(m.PROMETHEUS_RULE_EVALUATION_FAILURES), meta.rules, meta.reload),
            mitigations=(CHECK_ALERTS, RESTART_STACK),
        ),
        Playbook(
            m.ALERTMANAGER_NOTIFICATIONS_FAILING, summaries[m.ALERTMANAGER_NOTIFICATIONS_FAILING],
            meaning=("Alertmanager tries to deliver notifications through an integration (a webhook: the pager or "
                     "ticket bridge, the dead man's switch) and the receiver refuses, times out or is not there."),
            impact="Alerts still fire in Prometheus, but the pages and tickets routed to that receiver reach nobody.",
            checks=(alerts.active(m.ALERTMANAGER_NOTIFICATIONS_FAILING), meta.notifications, meta.alertmanager),
            mitigations=(CHECK_ALERTS, RESTART_STACK),
        ),
        Playbook(
            m.PROMETHEUS_CONFIG_RELOAD_FAILED, summaries[m.PROMETHEUS_CONFIG_RELOAD_FAILED],
            meaning=("Prometheus was asked to reload its configuration and rejected it (a syntax error, an unknown "
                     "field, a rule file that does not parse). It keeps running on the previous configuration."),
            impact=("New scrape jobs, targets and rule files are not in effect; the next restart of Prometheus fails "
                    "to start at all, with every alert going dark."),
            checks=(alerts.active(m.PROMETHEUS_CONFIG_RELOAD_FAILED), meta.reload, meta.rules),
            mitigations=(CHECK_ALERTS, RESTART_STACK),
        ),
        Playbook(
            m.ALERTMANAGER_DOWN, summaries[m.ALERTMANAGER_DOWN],
            meaning="Prometheus fails to scrape Alertmanager: the process is gone, hung, or its port changed.",
            impact=("Alerts fire in Prometheus but may notify nobody; only the Watchdog's receiver, outside the "
                    "platform, notices that notifications stopped."),
            checks=(alerts.active(m.ALERTMANAGER_DOWN), meta.alertmanager, meta.watchdog),
            mitigations=(STATUS, RESTART_STACK),
        ),
    ]
