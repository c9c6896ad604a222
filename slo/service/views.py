"""The status page and the SLO detail page, rendered on the server from the service's dataclasses.

Pure functions of their inputs (no I/O), so the routes decide what to fetch and these decide how it
reads. On-call scans the list from the top: the SLO with the least error budget left comes first.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from foundation.durations import format_duration
from slo.model import SLO
from slo.service import fmt, svg
from slo.service.html import budget_bar, budget_class, data_source_banner, esc, labels, pill, value
from slo.service.source import BudgetSeries, GroupState, SLOState, TierState, sort_key


def _link(slo_id: str) -> str:
    return f"/slo/{quote(slo_id, safe='')}"


def _firing(group: GroupState, tiers: Sequence[str], severities: dict[str, str]) -> str:
    if not group.has_data:
        return pill("no data", "nodata")
    if not tiers:
        return pill("none firing", "quiet")
    return "".join(pill(t, severities.get(t, "ticket")) for t in tiers)


def _tte(group: GroupState) -> str:
    if group.time_to_exhaustion is not None:
        return "exhausted" if group.time_to_exhaustion == 0 else fmt.duration(group.time_to_exhaustion)
    if group.burning is False:
        return "not burning"
    return fmt.NO_DATA


def _sli_cell(v: float | None) -> str:
    return value(fmt.percent(v, 3))


def _summary(rows: list[tuple[SLOState, GroupState]]) -> str:
    paging = sum(1 for s, g in rows if any(t.active and t.tier.severity == "page" for t in g.tiers))
    ticket = sum(1 for s, g in rows if any(t.active and t.tier.severity == "ticket" for t in g.tiers))
    exhausted = sum(1 for _, g in rows if g.budget_remaining is not None and g.budget_remaining <= 0)
    missing = sum(1 for _, g in rows if not g.has_data)
    stats = [(len(rows), "SLO series", ""), (paging, "paging", "bad" if paging else "ok"),
             (ticket, "ticket alerts", "warn" if ticket else "ok"),
             (exhausted, "budgets exhausted", "bad" if exhausted else "ok"), (missing, "without data", "")]
    return '<div class="summary">' + "".join(
        f'<div class="stat {cls}"><div class="n">{n}</div><div class="l">{esc(label)}</div></div>'
        for n, label, cls in stats) + "</div>"


def status_page(states: list[SLOState]) -> str:
    rows = [(s, g) for s in states for g in s.groups]
    rows.sort(key=lambda r: (sort_key(r[1].budget_remaining), r[0].slo.id))
    body = ["<h1>Service level objectives</h1>",
            '<p class="sub">Sorted by error budget remaining, worst first. SLI over the period is what the '
            "objective is about; SLI now is the last few minutes.</p>", _summary(rows),
            "<table id=\"slos\"><thead><tr><th>SLO</th><th>Group</th><th>Objective</th><th>SLI (period)</th>"
            "<th>SLI now</th><th>Error budget remaining</th><th>Burn rate</th><th>Exhausted in</th>"
            "<th>Alert tiers firing</th></tr></thead><tbody>"]
    for s, g in rows:
        severities = {t.name: t.severity for t in s.tiers}
        body.append(
            f'<tr class="slo-row row-{budget_class(g.budget_remaining)}" data-slo="{esc(s.slo.id)}">'
            f'<td class="slo"><a href="{_link(s.slo.id)}">{esc(s.slo.id)}</a>'
            f'<div class="desc">{esc(s.slo.description)}</div></td>'
            f'<td class="nowrap">{labels(g.labels)}</td>'
            f'<td class="num">{esc(fmt.objective(float(s.slo.objective)))}'
            f'<div class="desc">{esc(format_duration(s.slo.period))}</div></td>'
            f'<td class="num">{_sli_cell(g.sli_period)}</td><td class="num">{_sli_cell(g.sli)}</td>'
            f"<td>{budget_bar(g.budget_remaining)}</td><td class=\"num\">{value(fmt.burn(g.burn_rate))}</td>"
            f'<td class="num">{value(_tte(g))}</td><td>{_firing(g, g.firing, severities)}</td></tr>')
    body.append("</tbody></table>")
    return "".join(body)


def catalog_page(slos: list[SLO], error: str) -> str:
    """What the page can still say when Prometheus is down: which SLOs exist, not how they are doing."""
    body = ["<h1>Service level objectives</h1>", data_source_banner(error),
            "<table id=\"slos\"><thead><tr><th>SLO</th><th>Objective</th><th>Period</th>"
            "<th>Error budget remaining</th></tr></thead><tbody>"]
    for slo in slos:
        body.append(f'<tr><td><a href="{_link(slo.id)}">{esc(slo.id)}</a><div class="desc">'
                    f"{esc(slo.description)}</div></td><td class=\"num\">{esc(fmt.objective(float(slo.objective)))}"
                    f'</td><td class="num">{esc(format_duration(slo.period))}</td>'
                    '<td><span class="nodata">unknown: Prometheus is not answering</span></td></tr>')
    body.append("</tbody></table>")
    return "".join(body)


def _header(slo: SLO, profile: str) -> str:
    return (f'<p class="meta"><a href="/">← all SLOs</a></p><h1>{esc(slo.id)}</h1>'
            f'<p class="sub">{esc(slo.description)}</p>'
            f'<p class="meta">Objective <b>{esc(fmt.objective(float(slo.objective)))}</b> over '
            f"<b>{esc(format_duration(slo.period))}</b> · window profile <b>{esc(profile)}</b> · "
            f"alert <b>{esc(slo.alert_name)}</b></p>")


def _card(s: SLOState, g: GroupState) -> str:
    severities = {t.name: t.severity for t in s.tiers}
    rows = [("SLI over the period", _sli_cell(g.sli_period)), ("SLI now", _sli_cell(g.sli)),
            ("Burn rate now", value(fmt.burn(g.burn_rate))), ("Budget exhausted in", value(_tte(g)))]
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in rows)
    return (f'<div class="card group-card"><div>{labels(g.labels)}</div>{budget_bar(g.budget_remaining)}'
            f"<dl>{dl}</dl><div style=\"margin-top:8px\">{_firing(g, g.firing, severities)}</div></div>")


def _tier_status(t: TierState) -> str:
    if t.active:
        return pill("FIRING", t.tier.severity)
    if t.long.burn_rate is None or t.short.burn_rate is None:
        return pill("no data", "nodata")
    return pill("ok", "quiet")


def _tier_table(s: SLOState) -> str:
    head = ("<table id=\"tiers\"><thead><tr><th>Tier</th><th>Severity</th><th>Windows (long / short)</th>"
            "<th>Fires above</th><th>Group</th><th>Burn rate, long window</th><th>Burn rate, short window</th>"
            "<th>Status</th></tr></thead><tbody>")
    rows = []
    span = len(s.groups)
    for tier in s.tiers:
        for i, g in enumerate(s.groups):
            t = next(x for x in g.tiers if x.tier.name == tier.name)
            common = ""
            if i == 0:
                common = (
                    f'<td rowspan="{span}" class="nowrap"><b>{esc(tier.name)}</b></td>'
                    f'<td rowspan="{span}">{esc(tier.severity)}</td>'
                    f'<td rowspan="{span}" class="nowrap">{esc(format_duration(tier.long_window))} / '
                    f"{esc(format_duration(tier.short_window))}</td>"
                    f'<td rowspan="{span}" class="num">{esc(fmt.burn(t.burn_rate_threshold))} '
                    f'<span class="desc">({esc(fmt.percent(float(tier.budget_share), 0))} of budget)</span></td>')
            rows.append(
                f'<tr data-tier="{esc(tier.name)}">{common}<td class="nowrap">{labels(g.labels)}</td>'
                f'<td class="num">{value(fmt.burn(t.long.burn_rate))}</td>'
                f'<td class="num">{value(fmt.burn(t.short.burn_rate))}</td><td>{_tier_status(t)}</td></tr>')
    if not rows:
        rows.append('<tr><td colspan="8" class="nodata">this SLO has no alert tiers</td></tr>')
    return head + "".join(rows) + "</tbody></table>"


def range_links(period: int, current: int, path: str) -> str:
    choices = sorted({w for w in (300, 3600, 6 * 3600, 86400, 7 * 86400) if w < period} | {period})
    out = []
    for w in choices:
        text = "period" if w == period else format_duration(w)
        out.append(f"<b>{esc(text)}</b>" if w == current else f'<a href="{esc(path)}?range={format_duration(w)}">'
                   f"{esc(text)}</a>")
    return '<div class="ranges">Range: ' + "".join(out) + "</div>"


def burn_down_chart(s: SLOState, history: list[BudgetSeries], start: float, end: float) -> str:
    lines = [svg.Line(", ".join(f"{k}={v}" for k, v in h.labels.items()) or s.slo.id, h.points) for h in history]
    chart = svg.Chart(f"Error budget remaining — {s.slo.id}", lines, y_format=lambda v: fmt.percent(v, 0),
                      rules=[svg.Rule(0.0, "budget exhausted")], y_max=1.0, y_floor=-1.0, x_min=start,
                      x_max=end)
    return svg.render(chart)


def detail_page(s: SLOState, history: list[BudgetSeries], start: float, end: float, range_s: int) -> str:
    body = [_header(s.slo, s.profile.name), '<div class="cards">',
            *(_card(s, g) for g in sorted(s.groups, key=lambda g: sort_key(g.budget_remaining))), "</div>",
            "<h2>Error budget burn-down</h2>", '<div class="chartbox" id="burn-down">',
            burn_down_chart(s, history, start, end), range_links(s.slo.period, range_s, _link(s.slo.id)), "</div>",
            "<h2>Burn rate per alert tier</h2>", _tier_table(s)]
    return "".join(body)


def detail_unavailable(slo: SLO, error: str) -> str:
    return _header(slo, "unknown") + data_source_banner(error)


def not_found_page(name: str, known: list[str]) -> str:
    items = "".join(f'<li><a href="{_link(k)}">{esc(k)}</a></li>' for k in known)
    return f"<h1>No SLO named {esc(name)}</h1><p class=\"sub\">The SLOs this service knows:</p><ul>{items}</ul>"
