"""Sloth's rules for our SLO model, as ``sloth generate`` writes them: the baseline we measure against.

Per SLO, three groups like Sloth's ``prometheus/v1`` output (see tests/fixtures/anchors/sloth/examples/_gen):
8 SLI recordings (the error ratio over every alert window, each read from the raw series, and the
period's as an average of the 5-minute ratios), 7 metadata recordings and 2 alerts (page, ticket),
15 + 2 rules. ``tests/test_slo_sloth_rules.py`` checks the output against Sloth's own for its examples;
benchmarks use it to compare evaluation cost on SLOs that Sloth never saw.
"""

from __future__ import annotations

from typing import Any

from foundation.durations import format_duration
from foundation.promql import Matcher, Selector
from slo.errors import NotSupportedError
from slo.model import SLO, EventsSLI, RawSLI, Tier
from slo.windows import effective_tiers, profile_for

RATIO = "slo:sli_error:ratio_rate{window}"


def _go_float(value: float) -> str:
    """Go's strconv.FormatFloat(v, 'f', -1, 64) for the values Sloth prints (99.9, 30, 0.999...)."""
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def _objective(slo: SLO) -> float:
    # Sloth keeps the spec's percentage as a float and divides: 99.9 / 100 = 0.9990000000000001.
    return float(slo.objective * 100) / 100


def _ids(slo: SLO) -> dict[str, str]:
    return {"sloth_id": slo.id, "sloth_service": slo.service, "sloth_slo": slo.name}


def _selector(name: str, slo: SLO) -> str:
    """``name`` narrowed to the SLO's own series, spelled as Sloth spells it (``, `` between matchers)."""
    return Selector(name, tuple(Matcher(k, "=", v) for k, v in _ids(slo).items())).promql(", ")


def _error_ratio(slo: SLO, window: str) -> str:
    sli = slo.sli
    if isinstance(sli, RawSLI):
        return f"({sli.error_ratio.render(window)}\n)\n"
    assert isinstance(sli, EventsSLI)
    total = sli.total.render(window, sli.group_by)
    if sli.bad is not None:
        errors = sli.bad.render(window, sli.group_by)
    else:
        # Sloth has no good-events SLI: its users write the bad events as total minus good.
        assert sli.good is not None
        errors = f"{total} - {sli.good.render(window, sli.group_by)}"
    return f"({errors})\n/\n({total})\n"


def windows(tiers: tuple[Tier, ...]) -> list[int]:
    """Every window of the tiers, shortest first (Sloth: 5m, 30m, 1h, 2h, 6h, 1d, 3d)."""
    return sorted({w for t in tiers for w in (t.short_window, t.long_window)})


def _condition(slo: SLO, tier: Tier, budget: str) -> str:
    factor = f"{float(tier.burn_rate(slo.period)):g}"
    ratios = [_selector(RATIO.format(window=format_duration(w)), slo) for w in (tier.short_window, tier.long_window)]
    parts = [f"    max({r} > ({factor} * {budget})) without (sloth_window)" for r in ratios]
    return "(\n" + "\n    and\n".join(parts) + "\n)"


def _alert(slo: SLO, severity: str, tiers: list[Tier], budget: str) -> dict[str, Any] | None:
    a = slo.alerting
    if a is None or not tiers:
        return None
    extra_labels, extra_annotations = (a.page_labels, a.page_annotations) if severity == "page" else \
        (a.ticket_labels, a.ticket_annotations)
    who = "{{$labels.sloth_service}} {{$labels.sloth_slo}}"
    return {
        "alert": slo.alert_name,
        "expr": "\nor\n".join(_condition(slo, t, budget) for t in tiers) + "\n",
        "labels": {**a.labels, **extra_labels, "sloth_severity": severity},
        "annotations": {
            "summary": f"{who} SLO error budget burn rate is over expected.",
            "title": f"({severity}) {who} SLO error budget burn rate is too fast.",
            **a.annotations, **extra_annotations,
        },
    }


def generate(slo: SLO, spec: str = "prometheus/v1", extra_labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The three rule groups ``sloth generate`` writes for ``slo``."""
    if slo.calendar:
        # Sloth's period rules and metadata are rolling windows only: a calendar month would be
        # published as a rolling 30 days under the same names.
        raise NotSupportedError(f"Sloth's rules have rolling periods only, not a calendar {slo.calendar.unit}",
                                file=slo.source, slo=slo.name, field="period")
    if slo.maintenance:
        # Sloth's seven raw-reading rules have no place to exclude a window: its budget would burn.
        raise NotSupportedError("Sloth's rules cannot exclude maintenance windows; generate ours",
                                file=slo.source, slo=slo.name, field="maintenance")
    labels = {**(extra_labels or {}), **slo.labels}
    ids = _ids(slo)
    profile = profile_for(slo)
    tiers = effective_tiers(slo, profile)
    period = format_duration(slo.period)
    objective = _go_float(_objective(slo))
    budget = repr((100 - float(slo.objective * 100)) / 100)  # as Sloth computes it, digits included
    five = RATIO.format(window="5m")
    sli_rules = [{"record": RATIO.format(window=format_duration(w)), "expr": _error_ratio(slo, format_duration(w)),
                  "labels": {**labels, **ids, "sloth_window": format_duration(w)}}
                 for w in windows(profile.tiers)]  # recorded whether or not an alert reads them
    # The period's error ratio: the mean of the 5-minute ratios (an average of ratios).
    sli_rules.append({"record": RATIO.format(window=period),
                      "expr": f"sum_over_time({_selector(five, slo)}[{period}])\n/ ignoring (sloth_window)\n"
                              f"count_over_time({_selector(five, slo)}[{period}])\n",
                      "labels": {**labels, **ids, "sloth_window": period}})
    meta = {**labels, **ids}
    on = "/ on(sloth_id, sloth_slo, sloth_service) group_left"
    budget_ratio = _selector("slo:error_budget:ratio", slo)
    meta_rules = [
        {"record": "slo:objective:ratio", "expr": f"vector({objective})", "labels": meta},
        {"record": "slo:error_budget:ratio", "expr": f"vector(1-{objective})", "labels": meta},
        {"record": "slo:time_period:days", "expr": f"vector({slo.period // 86400})", "labels": meta},
        {"record": "slo:current_burn_rate:ratio",
         "expr": f"{_selector(five, slo)}\n{on}\n{budget_ratio}\n", "labels": meta},
        {"record": "slo:period_burn_rate:ratio",
         "expr": f"{_selector(RATIO.format(window=period), slo)}\n{on}\n{budget_ratio}\n", "labels": meta},
        {"record": "slo:period_error_budget_remaining:ratio",
         "expr": f"1 - {_selector('slo:period_burn_rate:ratio', slo)}", "labels": meta},
        {"record": "sloth_slo_info", "expr": "vector(1)",
         "labels": {**meta, "sloth_mode": "cli-gen-prom", "sloth_objective": _go_float(float(slo.objective * 100)),
                    "sloth_spec": spec, "sloth_version": "dev"}},
    ]
    alerts = [a for a in (_alert(slo, "page", [t for t in tiers if t.severity == "page"], budget),
                          _alert(slo, "ticket", [t for t in tiers if t.severity == "ticket"], budget)) if a]
    groups = [{"name": f"sloth-slo-sli-recordings-{slo.id}", "rules": sli_rules},
              {"name": f"sloth-slo-meta-recordings-{slo.id}", "rules": meta_rules}]
    if alerts:
        groups.append({"name": f"sloth-slo-alerts-{slo.id}", "rules": alerts})
    return groups
