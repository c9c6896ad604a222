"""SLOs: error budget left, burn rate per window against each alerting tier's factor, which tiers are
burning now, and the raw platform errors the availability SLIs are computed from."""

from __future__ import annotations

from grafanalib.core import Dashboard, TimeSeries

from dashboards import alert_names as alerts
from dashboards import promql as q
from dashboards import slo_series as slo
from dashboards.frame import dashboard
from dashboards.links import OVERVIEW_UID, SLOS_UID, Links
from dashboards.panels import Query, Row, stat, state_timeline, timeseries
from dashboards.variables import label_values
from exporters import contract as c

TITLE = "Enginewatch / SLOs"
_LEGEND = "{{slo}} {{engine}}"
_PLATFORM = q.Re(c.PLATFORM_ERRORS_RE)
BURNING_MAPPINGS = {0: ("within budget", "green"), 1: ("burning", "red")}


def _tier_panel(tier: slo.Tier, links: Links) -> TimeSeries:
    alert = alerts.SLO_BURN_PAGE if tier.severity == "page" else alerts.SLO_BURN_TICKET
    return timeseries(
        f"Burn rate {tier.long_window} and {tier.short_window} ({tier.severity} above {tier.burn_rate:g}x)",
        f"How fast the error budget burns, over the {tier.long_window} window and its {tier.short_window} "
        f"confirmation window, against this {tier.severity} tier's factor {tier.burn_rate:g} (dashed): "
        f"the tier fires while both lines are above it. 1 spends the budget exactly in the SLO period.",
        "none", [Query(slo.burn_rate(tier.long_window), f"{tier.long_window} {_LEGEND}"),
                 Query(slo.burn_rate(tier.short_window), f"{tier.short_window} {_LEGEND}")],
        width=12, thresholds=[("green", None), ("red", tier.burn_rate)], links=[links.runbook(alert)])


def build(links: Links) -> Dashboard:
    budget = Row("Error budget", [
        stat("Error budget remaining",
             "Share of the SLO period's error budget that is left: 100% untouched, 0% spent, negative "
             "overspent (the SLO is missed for the period).",
             "percentunit", [Query(slo.select(slo.BUDGET_REMAINING), _LEGEND)], width=8, decimals=1,
             thresholds=[("red", None), ("orange", 0.0), ("green", 0.25)]),
        stat("Objective",
             "The SLO's objective: the share of good events it promises over its period.",
             "percentunit", [Query(slo.select(slo.OBJECTIVE, per_engine=False), "{{slo}}")], width=4,
             decimals=2),
        timeseries(
            "Error budget remaining over time",
            "The share of the period's error budget left, over time: its slope is the burn rate.",
            "percentunit", [Query(slo.select(slo.BUDGET_REMAINING), _LEGEND)], width=12,
            thresholds=[("red", None), ("green", 0.0)]),
    ])
    burn = Row("Burn rate per alerting tier", [_tier_panel(tier, links) for tier in slo.TIERS])
    firing = Row("Alerting", [
        state_timeline(
            "Burn-rate tiers burning",
            "Per SLO and tier, whether both windows burn above the tier's factor: the condition of the "
            "multi-window multi-burn-rate alerts (page tiers page, ticket tiers open a ticket).",
            [Query(slo.tier_burning(tier), f"{tier.name} {_LEGEND}") for tier in slo.TIERS],
            BURNING_MAPPINGS, width=24, height=8,
            links=[links.runbook(alerts.SLO_BURN_PAGE), links.runbook(alerts.SLO_BURN_TICKET)]),
        timeseries(
            "SLI error ratio by window",
            "The SLI's error ratio over each window the tiers use: short windows react fast, long ones "
            "show the trend.",
            "percentunit", [Query(slo.select(slo.error_ratio(w)), f"{w} {_LEGEND}") for w in slo.WINDOWS],
            width=24),
    ])
    inputs = Row("SLI inputs", [
        timeseries(
            "Platform error ratio by engine",
            "Share of client queries failed by the platform at the gateway, per engine: the raw signal "
            "behind the availability SLIs, at the dashboard's resolution.",
            "percentunit", [Query(q.ratio(q.rate(c.GATEWAY_ERRORS, (q.ENGINE,), **{q.ERROR_TYPE: _PLATFORM}),
                                          q.rate(c.GATEWAY_REQUEST_DURATION, (q.ENGINE,), "count")),
                                  "{{engine}}")],
            no_value="0", links=[links.dashboard(OVERVIEW_UID, "Engines overview")]),
        timeseries(
            "Platform errors by cluster",
            "Platform errors per second in each cluster's query cores, by type: where the budget goes.",
            "reqps", [Query(q.rate(c.QUERY_ERRORS, (q.ENGINE, q.CLUSTER, q.ERROR_TYPE),
                                   **{q.ERROR_TYPE: _PLATFORM}),
                            "{{error_type}} {{engine}} / {{cluster}}")],
            stacked=True, no_value="0"),
    ])
    return dashboard(
        uid=SLOS_UID, title=TITLE,
        description="Error budgets, multi-window burn rates per alerting tier, and the SLIs' raw inputs.",
        rows=[budget, burn, firing, inputs], links=links,
        runbooks=[alerts.SLO_BURN_PAGE, alerts.SLO_BURN_TICKET],
        extra_variables=[label_values(slo.SLO, slo.OBJECTIVE)],
    )
