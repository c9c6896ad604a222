"""Every alert's playbook, by alert name: the platform alerts of alerts/ and the SLO alerts of slo/."""

from __future__ import annotations

from functools import cache

from alerts import platform as pl
from runbooks.playbooks import gateway, gray, lifecycle, meta, nodes, queries, saturation, slo, targets
from runbooks.playbooks.model import Mitigation, Playbook


@cache
def registry() -> dict[str, Playbook]:
    summaries = {r.name: r.summary for r in pl.rules("local")}
    books = [*nodes.playbooks(summaries), *lifecycle.playbooks(summaries), *gateway.playbooks(summaries),
             *saturation.playbooks(summaries), *gray.playbooks(summaries), *queries.playbooks(summaries),
             *targets.playbooks(summaries),
             *meta.playbooks(summaries),
             *slo.playbooks()]
    return {b.alert: b for b in books}


def known_alerts() -> list[str]:
    return list(registry())


def get(alert: str) -> Playbook | None:
    return registry().get(alert)


__all__ = ["Mitigation", "Playbook", "get", "known_alerts", "registry"]
