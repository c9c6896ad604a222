"""OpenSLO: ``openslo/v1`` (Service, SLI, SLO, AlertPolicy, AlertCondition, DataSource) and Sloth's
``openslo/v1alpha`` SLOs.

Supported: ratio metrics (good/bad over total) from Prometheus, Occurrences budgeting, one rolling
time window or a calendar month (1M) or ISO week (1w) in any timezone, burn-rate alert conditions.
Everything else is refused by name: Timeslices budgeting, calendars anchored off a month or week
start, threshold and raw metrics, other metric sources, composite objectives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any

from foundation.durations import parse_seconds
from slo.calendar import Calendar, zone
from slo.errors import NotSupportedError, SpecError
from slo.model import SLO, Alerting, EventsSLI, NoDataPolicy, Severity, Tier, ratio_to_objective
from slo.promql import Query, parse_counter_expression, parse_window_template

V1 = "openslo/v1"
V1ALPHA = "openslo/v1alpha"
_PAGE_SEVERITIES = {"page", "critical", "high", "p1", "sev1"}


@dataclass
class Objects:
    """OpenSLO objects of one load, by kind and name, so references resolve across files."""

    by_kind: dict[str, dict[str, tuple[dict[str, Any], str]]] = field(default_factory=dict)
    slos: list[tuple[dict[str, Any], str]] = field(default_factory=list)

    def add(self, obj: dict[str, Any], file: str) -> None:
        kind = obj.get("kind")
        if not isinstance(kind, str):
            raise SpecError("OpenSLO object without kind", file=file, field="kind")
        if kind == "SLO":
            self.slos.append((obj, file))
        name = (obj.get("metadata") or {}).get("name")
        if name:
            self.by_kind.setdefault(kind, {})[name] = (obj, file)

    def ref(self, kind: str, name: str, *, file: str, slo: str, field: str) -> dict[str, Any]:
        try:
            return self.by_kind[kind][name][0]
        except KeyError:
            raise SpecError(f"{kind} {name!r} is not defined in the loaded files", file=file, slo=slo,
                            field=field) from None


def is_openslo(doc: Any) -> bool:
    return isinstance(doc, dict) and str(doc.get("apiVersion", "")).startswith("openslo/")


def build(objects: Objects) -> list[SLO]:
    out: list[SLO] = []
    for obj, file in objects.slos:
        version = obj.get("apiVersion")
        if version == V1ALPHA:
            out.extend(_v1alpha(obj, file))
        elif version == V1:
            out.extend(_v1(obj, file, objects))
        else:
            raise NotSupportedError(f"OpenSLO version {version!r} is not supported (use {V1})", file=file,
                                    field="apiVersion")
    return out


def _get(node: Any, key: str, *, file: str, slo: str | None, path: str, kind: type = dict) -> Any:
    value = node.get(key) if isinstance(node, dict) else None
    if value is None:
        raise SpecError("required field is missing", file=file, slo=slo, field=f"{path}.{key}".lstrip("."))
    if not isinstance(value, kind):
        raise SpecError(f"expected {kind.__name__}", file=file, slo=slo, field=f"{path}.{key}".lstrip("."))
    return value


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-").lower()


def _v1alpha(obj: dict[str, Any], file: str) -> list[SLO]:
    name = _get(obj, "metadata", file=file, slo=None, path="")["name"]
    spec = _get(obj, "spec", file=file, slo=name, path="")
    period, calendar = _alpha_window(spec, file, name)
    method = spec.get("budgetingMethod", "Occurrences")
    if method != "Occurrences":
        raise NotSupportedError(f"budgetingMethod {method} is not supported (only Occurrences)", file=file,
                                slo=name, field="spec.budgetingMethod")
    out = []
    for i, objective in enumerate(_get(spec, "objectives", file=file, slo=name, path="spec", kind=list)):
        path = f"spec.objectives[{i}]"
        ratio = _get(objective, "ratioMetrics", file=file, slo=name, path=path)
        good, by_g = _alpha_query(ratio, "good", file, name, f"{path}.ratioMetrics")
        total, by_t = _alpha_query(ratio, "total", file, name, f"{path}.ratioMetrics")
        slo = SLO(service=_get(spec, "service", file=file, slo=name, path="spec", kind=str),
                  name=f"{name}-{i}", objective=_objective(objective, file, name, path),
                  sli=EventsSLI(total=total, good=good, group_by=by_g or by_t or ()),
                  description=spec.get("description", ""), period=period, calendar=calendar, source=file)
        out.append(slo.validate())
    return out


def _alpha_window(spec: dict[str, Any], file: str, name: str) -> tuple[int, Calendar | None]:
    windows = spec.get("timeWindows") or [{"count": 30, "unit": "Day"}]
    window = windows[0]
    if len(windows) != 1:
        raise NotSupportedError("more than one time window is not supported", file=file, slo=name,
                                field="spec.timeWindows")
    if window.get("isRolling") is False or window.get("calendar"):
        # v1alpha says count and unit where v1 says duration: 1 Month is v1's 1M.
        unit = {"Month": "M", "Week": "w", "Day": "d"}.get(str(window.get("unit")), "?")
        as_v1 = {**window, "duration": f"{window.get('count')}{unit}"}
        if (why := calendar_problem(as_v1)) is not None:
            raise NotSupportedError(f"calendar time window not supported: {why}", file=file, slo=name,
                                    field="spec.timeWindows[0]")
        calendar = window_calendar(as_v1)
        assert calendar is not None
        return calendar.nominal, calendar
    units = {"Second": 1, "Minute": 60, "Hour": 3600, "Day": 86400, "Week": 7 * 86400}
    if window.get("unit") not in units:
        raise NotSupportedError(f"time window unit {window.get('unit')!r} is not supported", file=file,
                                slo=name, field="spec.timeWindows[0].unit")
    return int(window["count"]) * units[window["unit"]], None


_CALENDAR_DURATIONS = {"1M": "month", "1w": "week", "7d": "week"}


def window_calendar(window: dict[str, Any]) -> Calendar | None:
    """The calendar of a timeWindow that is not rolling (None for a rolling one); ValueError if unsupported."""
    if window.get("isRolling") is True and not window.get("calendar"):
        return None
    why = calendar_problem(window)
    if why is not None:
        raise ValueError(why)
    cal = window.get("calendar") or {}
    return Calendar(_CALENDAR_DURATIONS[str(window.get("duration"))],  # type: ignore[arg-type]
                    str(cal.get("timeZone") or "UTC"))


def calendar_problem(window: dict[str, Any]) -> str | None:
    """Why a calendar timeWindow cannot be one of our calendar periods, or None when it can.

    Ours are months and ISO weeks starting at local midnight; OpenSLO's ``startTime`` may only
    restate that (the 1st of a month, a Monday), because a period anchored elsewhere is another
    calendar than the one Prometheus ranges are cut by here.
    """
    duration = str(window.get("duration"))
    unit = _CALENDAR_DURATIONS.get(duration)
    if unit is None:
        return f"of duration {duration} (only 1M, a calendar month, and 1w, an ISO week)"
    cal = window.get("calendar") or {}
    tz = str(cal.get("timeZone") or "UTC")
    try:
        zone(tz)
    except ValueError as exc:
        return str(exc)
    start = cal.get("startTime")
    if start is None:
        return None
    try:
        at = start if isinstance(start, datetime) else datetime.fromisoformat(str(start))
    except ValueError:
        return f"with startTime {start!r}, which is not a date and time (2022-01-01 00:00:00)"
    midnight = (at.hour, at.minute, at.second, at.microsecond) == (0, 0, 0, 0)
    aligned = midnight and (at.day == 1 if unit == "month" else at.weekday() == 0)
    if not aligned:
        first = "the 1st of a month" if unit == "month" else "a Monday (ISO weeks)"
        return f"starting at {at:%Y-%m-%d %H:%M:%S} {tz}: only periods starting at 00:00 on {first} are supported"
    return None


def _alpha_query(ratio: dict[str, Any], key: str, file: str, slo: str, path: str) -> tuple[Query, Any]:
    node = _get(ratio, key, file=file, slo=slo, path=path)
    source = str(node.get("source", "prometheus")).lower()
    if source != "prometheus":
        raise NotSupportedError(f"metric source {node.get('source')!r} is not supported (only prometheus)",
                                file=file, slo=slo, field=f"{path}.{key}.source")
    return _query(_get(node, "query", file=file, slo=slo, path=f"{path}.{key}", kind=str), True, file, slo,
                  f"{path}.{key}.query")


def _query(text: str, counter: bool, file: str, slo: str, path: str) -> tuple[Query, tuple[str, ...] | None]:
    try:
        if "{{" in text:
            return parse_window_template(text)
        if not counter:
            raise NotSupportedError("a non-counter metric without a {{.window}} query is not supported",
                                    file=file, slo=slo, field=path)
        return parse_counter_expression(text)
    except ValueError as exc:
        if isinstance(exc, SpecError):
            raise
        raise NotSupportedError(f"query is neither a {{{{.window}}}} template nor a counter selector "
                                f"(optionally inside sum or sum by): {exc}", file=file, slo=slo,
                                field=path) from None


def _objective(objective: dict[str, Any], file: str, slo: str, path: str) -> Fraction:
    try:
        if "target" in objective:
            return ratio_to_objective(objective["target"])
        if "targetPercent" in objective:
            return ratio_to_objective(objective["targetPercent"]) / 100
    except ValueError as exc:
        raise SpecError(str(exc), file=file, slo=slo, field=f"{path}.target") from None
    raise SpecError("required field is missing", file=file, slo=slo, field=f"{path}.target")


def _v1(obj: dict[str, Any], file: str, objects: Objects) -> list[SLO]:
    meta = _get(obj, "metadata", file=file, slo=None, path="")
    name = _get(meta, "name", file=file, slo=None, path="metadata", kind=str)
    spec = _get(obj, "spec", file=file, slo=name, path="")
    problems: list[str] = []
    method = spec.get("budgetingMethod", "Occurrences")
    if method != "Occurrences":
        problems.append(f"budgetingMethod {method} (only Occurrences)")
    windows = spec.get("timeWindow") or []
    if len(windows) != 1:
        problems.append("a timeWindow list without exactly one window")
    elif ((windows[0].get("isRolling") is not True or windows[0].get("calendar"))
          and (why := calendar_problem(windows[0])) is not None):
        problems.append(f"calendar-aligned timeWindow (isRolling: false) {why}")
    objectives = spec.get("objectives") or []
    for i, o in enumerate(objectives):
        for key in ("timeSliceTarget", "timeSliceWindow", "compositeWeight"):
            if key in o:
                problems.append(f"objectives[{i}].{key}")
    sli_spec = _indicator(spec, file, name, objects)
    if "thresholdMetric" in sli_spec:
        problems.append("thresholdMetric SLIs (only ratioMetric)")
    ratio = sli_spec.get("ratioMetric") or {}
    if "raw" in ratio:
        problems.append("raw ratioMetric (only good or bad over total)")
    if problems:
        raise NotSupportedError("not supported: " + "; ".join(dict.fromkeys(problems)), file=file, slo=name)
    try:
        calendar = window_calendar(windows[0])
        period = calendar.nominal if calendar else parse_seconds(windows[0].get("duration", ""))
    except ValueError as exc:
        raise SpecError(str(exc), file=file, slo=name, field="spec.timeWindow[0].duration") from None
    counter = ratio.get("counter", True)
    total, by_t = _v1_query(ratio, "total", counter, file, name, objects)
    kind = "good" if "good" in ratio else "bad"
    events, by_e = _v1_query(ratio, kind, counter, file, name, objects)
    sli = EventsSLI(total=total, group_by=by_e or by_t or (), **{kind: events})
    alerting = _alerting(spec, file, name, objects)
    out = []
    for i, o in enumerate(objectives):
        slo_name = name if len(objectives) == 1 else f"{name}-{_slug(o.get('displayName') or str(i))}"
        slo = SLO(service=_get(spec, "service", file=file, slo=name, path="spec", kind=str), name=slo_name,
                  objective=_objective(o, file, name, f"spec.objectives[{i}]"), sli=sli,
                  description=spec.get("description", ""), period=period, calendar=calendar,
                  labels=_labels(meta.get("labels") or {}), alerting=alerting, source=file)
        out.append(slo.validate())
    return out


def _labels(labels: dict[str, Any]) -> dict[str, str]:
    """OpenSLO label values may be lists; Prometheus labels are strings."""
    return {k: ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in labels.items()}


def _indicator(spec: dict[str, Any], file: str, slo: str, objects: Objects) -> dict[str, Any]:
    if "indicator" in spec:
        return _get(spec["indicator"], "spec", file=file, slo=slo, path="spec.indicator")
    if "indicatorRef" in spec:
        sli = objects.ref("SLI", spec["indicatorRef"], file=file, slo=slo, field="spec.indicatorRef")
        return _get(sli, "spec", file=file, slo=slo, path="SLI")
    raise SpecError("required field is missing (indicator or indicatorRef)", file=file, slo=slo,
                    field="spec.indicator")


def _v1_query(ratio: dict[str, Any], key: str, counter: bool, file: str, slo: str,
              objects: Objects) -> tuple[Query, tuple[str, ...] | None]:
    path = f"spec.indicator.spec.ratioMetric.{key}"
    source = _get(_get(ratio, key, file=file, slo=slo, path="spec.indicator.spec.ratioMetric"),
                  "metricSource", file=file, slo=slo, path=path)
    kind = source.get("type")
    if kind is None and "metricSourceRef" in source:
        data_source = objects.by_kind.get("DataSource", {}).get(source["metricSourceRef"])
        kind = (data_source[0].get("spec") or {}).get("type") if data_source else None
    if str(kind).lower() != "prometheus":
        raise NotSupportedError(f"metric source type {kind!r} is not supported (only Prometheus)", file=file,
                                slo=slo, field=f"{path}.metricSource.type")
    query = _get(_get(source, "spec", file=file, slo=slo, path=f"{path}.metricSource"), "query", file=file,
                 slo=slo, path=f"{path}.metricSource.spec", kind=str)
    return _query(query, counter, file, slo, f"{path}.metricSource.spec.query")


def _alerting(spec: dict[str, Any], file: str, slo: str, objects: Objects) -> Alerting:
    policies = spec.get("alertPolicies") or []
    if not policies:
        return Alerting()
    tiers: list[Tier] = []
    no_data = False
    for i, ref in enumerate(policies):
        path = f"spec.alertPolicies[{i}]"
        if "alertPolicyRef" in ref:
            policy = objects.ref("AlertPolicy", ref["alertPolicyRef"], file=file, slo=slo, field=path)
        else:
            policy = ref
        pspec = _get(policy, "spec", file=file, slo=slo, path=path)
        no_data = no_data or bool(pspec.get("alertWhenNoData"))
        for j, cond in enumerate(pspec.get("conditions") or []):
            cpath = f"{path}.spec.conditions[{j}]"
            if "conditionRef" in cond:
                cond = objects.ref("AlertCondition", cond["conditionRef"], file=file, slo=slo, field=cpath)
            tiers.append(_tier(cond, file, slo, cpath, int(_period_of(spec))))
    return Alerting(use_profile_tiers=False, extra_tiers=tuple(tiers), no_data=NoDataPolicy(enabled=no_data))


def _period_of(spec: dict[str, Any]) -> int:
    calendar = window_calendar(spec["timeWindow"][0])
    return calendar.nominal if calendar else parse_seconds(spec["timeWindow"][0]["duration"])


def _tier(cond: dict[str, Any], file: str, slo: str, path: str, period: int) -> Tier:
    name = (cond.get("metadata") or {}).get("name") or f"condition-{path.rsplit('[', 1)[-1].rstrip(']')}"
    cspec = _get(cond, "spec", file=file, slo=slo, path=path)
    c = _get(cspec, "condition", file=file, slo=slo, path=f"{path}.spec")
    if c.get("kind") != "burnrate":
        raise NotSupportedError(f"AlertCondition {name!r}: condition kind {c.get('kind')!r} is not supported "
                                "(only burnrate)", file=file, slo=slo, field=f"{path}.spec.condition.kind")
    if c.get("op", "gt") not in ("gt", "gte"):
        raise NotSupportedError(f"AlertCondition {name!r}: op {c.get('op')!r} is not supported (only gt, gte: "
                                "an alert fires when the burn rate is above the threshold)", file=file,
                                slo=slo, field=f"{path}.spec.condition.op")
    try:
        long_w = parse_seconds(c["lookbackWindow"])
        for_ = parse_seconds(c["alertAfter"]) if c.get("alertAfter") else 0
        burn = Fraction(str(c["threshold"]))
    except (KeyError, ValueError) as exc:
        raise SpecError(f"AlertCondition {name!r}: {exc}", file=file, slo=slo,
                        field=f"{path}.spec.condition") from None
    severity: Severity = "page" if str(cspec.get("severity", "")).lower() in _PAGE_SEVERITIES else "ticket"
    # OpenSLO gives one lookback window; the short window follows the Workbook's 1/12 guideline.
    short_w = max(1, long_w // 12)
    return Tier(name, severity, long_w, short_w, burn * long_w / period, for_)
