"""Monitoring itself: does Prometheus have targets for every scrape job, and does traffic arrive?"""

from __future__ import annotations

from exporters import contract as c
from foundation.promql import UP, by
from runbooks.diagnosis.context import Check, Context
from runbooks.diagnosis.model import Finding

JOBS = "Scrape targets per job"
TRAFFIC = "Client traffic per engine at the gateway"
EXPECTED_JOBS: tuple[str, ...] = (c.JOB_NODE, c.JOB_GATEWAY, c.JOB_ORCHESTRATOR, c.JOB_SLO_SERVICE)


def _jobs(ctx: Context) -> list[Finding]:
    targets = {s.labels.get("job"): s.value for s in ctx.promql(f"count {by('job')} ({UP})")}
    down = {s.labels.get("job"): s.value for s in ctx.promql(f"count {by('job')} ({UP} == 0)")}
    found = []
    for job in EXPECTED_JOBS:
        if job not in targets:
            found.append(Finding("problem", f"Prometheus has no target for job {job}: its metrics and alerts are "
                                            "blind", JOBS))
        elif down.get(job):
            found.append(Finding("problem", f"job {job}: {down[job]:.0f} of {targets[job]:.0f} targets fail their "
                                            "scrapes", JOBS))
        else:
            found.append(Finding("ok", f"job {job}: {targets[job]:.0f} target(s), all scraped", JOBS))
    return found


def _traffic(ctx: Context) -> list[Finding]:
    requests = ctx.sel(c.GATEWAY_REQUEST_DURATION, "count", job=c.JOB_GATEWAY)
    samples = ctx.promql(f"sum {by('engine')} (rate({requests}[5m]))")
    found = []
    for s in sorted(samples, key=lambda s: s.labels.get("engine", "")):
        engine = s.labels.get("engine")
        if s.value > 0:
            found.append(Finding("ok", f"engine {engine} receives {s.value:.2g} queries/s at the gateway", TRAFFIC,
                                 engine))
        else:
            found.append(Finding("problem", f"engine {engine} received no queries at the gateway in 5 min", TRAFFIC,
                                 engine))
    if ctx.scope.engine and not samples:
        found.append(Finding("problem", f"the gateway has no request series for {ctx.scope.engine}", TRAFFIC,
                             ctx.scope.engine))
    return found or [Finding("info", "the gateway has not served any query yet", TRAFFIC)]


jobs = Check(JOBS, "prometheus", _jobs)
traffic = Check(TRAFFIC, "prometheus", _traffic)


