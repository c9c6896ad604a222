"""Sloth plugins we know: SLI plugins become queries, SLO plugins map to our generator or are refused.

Sloth runs Go plugins at generation time; we cannot, so each plugin id is either mapped to what it
produces (checked against Sloth's own generated output in the anchors) or named in a clear
"not supported" error.
"""

from __future__ import annotations

from collections.abc import Mapping

from foundation.promql import Matcher, Selector, parse_selector
from slo.errors import NotSupportedError
from slo.promql import SelectorQuery

# SLO plugins whose effect our generator already has (or that do nothing to the rules).
EQUIVALENT_SLO_PLUGINS: dict[str, str] = {
    "sloth.dev/core/sli_rules/v1": "our generator records the SLI itself",
    "sloth.dev/core/metadata_rules/v1": "our generator records one info series per SLO",
    "sloth.dev/core/alert_rules/v1": "our generator writes the multi-window multi-burn-rate alerts",
    "sloth.dev/core/validate/v1": "specs are validated on load",
    "sloth.dev/core/noop/v1": "does nothing",
    "sloth.dev/core/debug/v1": "only logs",
    # Sloth's correction multiplies each window's ratio by its share of the period's traffic to
    # approximate a ratio of sums; our period budget *is* the ratio of sums, so nothing is left to do.
    "sloth.dev/contrib/denominator_corrected_rules/v1": "our period budget is already a ratio of sums",
    # page_alert.for / ticket_alert.for are read by the loader.
    "sloth.dev/contrib/alert_for/v1": "page_alert.for and ticket_alert.for are honoured",
}

UNSUPPORTED_SLO_PLUGINS: dict[str, str] = {
    "sloth.dev/contrib/rule_intervals/v1": "rule intervals come from the window profile",
    "sloth.dev/contrib/info_labels/v1": "SLO labels already go on the slo:info series",
    "sloth.dev/contrib/remove_labels/v1": "recorded series carry only the slo label already",
    "sloth.dev/contrib/sli_total_amount_rules/v1": "slo:sli_total:rate is always recorded",
    "sloth.dev/contrib/error_budget_exhausted_alert/v1": "no budget-exhausted alert yet",
    "sloth.dev/contrib/validate_victoria_metrics/v1": "only Prometheus is a target",
}


def check_slo_plugin(plugin_id: str) -> None:
    if plugin_id in EQUIVALENT_SLO_PLUGINS:
        return
    why = UNSUPPORTED_SLO_PLUGINS.get(plugin_id, "unknown plugin")
    raise NotSupportedError(f"Sloth SLO plugin {plugin_id!r} is not supported ({why})")


def _getting_started_availability(options: Mapping[str, str]) -> tuple[SelectorQuery, SelectorQuery]:
    """Sloth's examples/plugins/getting-started availability plugin (5xx and 429 are errors)."""
    job = options.get("job")
    if not job:
        raise NotSupportedError("option 'job' is required by plugin getting_started_availability")
    extra: tuple[Matcher, ...] = ()
    if options.get("filter"):
        extra = parse_selector("x{" + options["filter"].strip().strip(",") + "}").matchers
    base = (*extra, Matcher("job", "=", job))
    metric = "http_request_duration_seconds_count"
    bad = Selector(metric, (*base, Matcher("code", "=~", "(5..|429)")))
    return SelectorQuery(bad), SelectorQuery(Selector(metric, base))


SLI_PLUGINS = {"getting_started_availability": _getting_started_availability}


def sli_from_plugin(plugin_id: str, options: Mapping[str, str]) -> tuple[SelectorQuery, SelectorQuery]:
    """(bad, total) queries of a known SLI plugin."""
    try:
        build = SLI_PLUGINS[plugin_id]
    except KeyError:
        raise NotSupportedError(
            f"Sloth SLI plugin {plugin_id!r} is not supported (known: {', '.join(SLI_PLUGINS)}); "
            "write its error_query and total_query as an events SLI") from None
    return build(options)
