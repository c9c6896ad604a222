"""SLOs: per SLO, the error budget left, whether each burn-rate tier is burning, and each tier's
two windows against its factor; then the raw platform errors the availability SLIs count.

One row per SLO, generated from the SLO specs through slo/, so a new SLO or tier shows up here
without touching this file.
"""

from __future__ import annotations

from grafanalib.core import Dashboard, Panel

from dashboards import promql as q
from dashboards.frame import dashboard
from dashboards.links import OVERVIEW_UID, SLOS_UID, Links
from dashboards.panels import Query, Row, stat, state_timeline, timeseries
from dashboards.settings import Settings
from dashboards.slo_series import SLOView, views, window
from exporters import contract as c

TITLE = "Enginewatch / SLOs"
_PLATFORM = q.Re(c.PLATFORM_ERRORS_RE)
BURNING_MAPPINGS = {0: ("ok", "green"), 1: ("burning", "red")}


def _slo_row(view: SLOView, links: Links) -> Row:
    runbook = links.runbook(view.slo.alert_name)
    panels: list[Panel] = [
        stat(f"{view.id}: error budget remaining",
             f"Share of the {window(view.slo.period)} error budget of {view.id} that is left: 100% "
             f"untouched, 0% spent, below 0 the objective of {float(view.slo.objective * 100):g}% is missed "
             f"for the period. {view.slo.description}",
             "percentunit", [Query(view.budget_remaining(), view.legend)], width=6, decimals=1,
             thresholds=[("red", None), ("orange", 0.0), ("green", 0.25)], links=[runbook]),
        state_timeline(
            f"{view.id}: burn-rate tiers",
            f"Per tier, whether {view.slo.alert_name}'s condition holds: both windows burn faster than "
            f"the tier's factor (and the long window saw enough events). Page tiers page, ticket tiers "
            f"open a ticket.",
            [Query(view.tier_burning(t), f"{t.name} {view.legend}") for t in view.tiers],
            BURNING_MAPPINGS, width=18, height=5, links=[runbook]),
    ]
    for tier in view.tiers:
        long_w, short_w, factor = window(tier.long_window), window(tier.short_window), view.factor(tier)
        panels.append(timeseries(
            f"{view.id}: {tier.name} burn rate ({long_w} and {short_w} above {factor:g}x)",
            f"How fast {view.id} burns its error budget over {long_w} and over {short_w}, against the "
            f"{tier.name} tier's factor {factor:g} (dashed): the {tier.severity} fires while both lines "
            f"are above it. 1 spends the budget exactly in {window(view.slo.period)}.",
            "none", [Query(view.burn_rate(tier.long_window), f"{long_w} {view.legend}"),
                     Query(view.burn_rate(tier.short_window), f"{short_w} {view.legend}")],
            width=24 // max(len(view.tiers), 1), height=7,
            thresholds=[("green", None), ("red", factor)], links=[runbook]))
    return Row(view.describe(), panels)


def build(settings: Settings) -> Dashboard:
    links = settings.links
    slo_views = views(profile=settings.slo_profile)
    inputs = Row("SLI inputs", [
        timeseries(
            "Platform error ratio by engine",
            "Share of client queries failed by the platform at the gateway, per engine: the raw signal "
            "of the gateway availability SLO, at the dashboard's resolution.",
            "percentunit", [Query(q.ratio(q.rate(c.GATEWAY_ERRORS, (q.ENGINE,), match={q.ERROR_TYPE: _PLATFORM}),
                                          q.rate(c.GATEWAY_REQUEST_DURATION, (q.ENGINE,), "count")),
                                  "{{engine}}")],
            no_value="0", links=[links.dashboard(OVERVIEW_UID, "Engines overview")]),
        timeseries(
            "Platform errors by cluster",
            "Platform errors per second in each cluster's query cores, by type: where the query-core "
            "availability budget goes.",
            "reqps", [Query(q.rate(c.QUERY_ERRORS, (q.ENGINE, q.CLUSTER, q.ERROR_TYPE),
                                   match={q.ERROR_TYPE: _PLATFORM}),
                            "{{error_type}} {{engine}} / {{cluster}}")],
            stacked=True, no_value="0"),
    ])
    return dashboard(
        uid=SLOS_UID, title=TITLE,
        description="Error budgets and multi-window burn rates per SLO and alerting tier, from the SLO rules.",
        rows=[*(_slo_row(v, links) for v in slo_views), inputs], links=links,
        runbooks=sorted({v.slo.alert_name for v in slo_views}),
    )
