"""Playbook of the monitoring's own alert: a scrape job without targets."""

from __future__ import annotations

from alerts import platform as pl
from runbooks.diagnosis import alerts, fleet, targets
from runbooks.playbooks.model import Mitigation, Playbook


def playbooks(summaries: dict[str, str]) -> list[Playbook]:
    return [
        Playbook(
            pl.EXPORTER_TARGET_ABSENT, summaries[pl.EXPORTER_TARGET_ABSENT],
            meaning=("Prometheus has no target at all for a scrape job: for `engine-node`, the orchestrator's "
                     "service discovery lists no pod (no engine runs, or the file_sd files are not read); for "
                     "`gateway`, `orchestrator` and `slo-service`, the job is missing from the configuration."),
            impact=("Every alert and dashboard built on the job's metrics is blind: an outage there would page "
                    "nobody. `slo-service` only reports (severity info)."),
            checks=(alerts.active(pl.EXPORTER_TARGET_ABSENT), targets.jobs, fleet.capacity, targets.traffic),
            mitigations=(
                Mitigation("enginewatch status", "see which engines and pods the orchestrator runs"),
                Mitigation("enginewatch engine scale {engine} --clusters {min_clusters}",
                           "engine-node absent because an engine has no pods: give it its clusters back"),
                Mitigation("enginewatch up", "gateway or orchestrator absent: restart the local stack, whose "
                                             "Prometheus configuration names every job"),
            ),
        ),
    ]
