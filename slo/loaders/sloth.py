"""Sloth specs: ``prometheus/v1`` files and ``sloth.slok.dev/v1`` PrometheusServiceLevel objects."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field

from slo.errors import NotSupportedError, SpecError
from slo.loaders._schema import Strict, duration, validate, window_query
from slo.loaders.sloth_plugins import check_slo_plugin, sli_from_plugin
from slo.model import SLO, Alerting, EventsSLI, NoDataPolicy, RawSLI, TierOverride, percent_to_objective
from slo.promql import TemplateQuery

PROM_V1 = "prometheus/v1"
K8S_V1 = "sloth.slok.dev/v1"


def _both(snake: str, *, required: bool = False) -> Any:
    """Sloth's prometheus/v1 spells fields in snake_case, its Kubernetes CRD in camelCase."""
    parts = snake.split("_")
    camel = parts[0] + "".join(p.title() for p in parts[1:])
    if required:
        return Field(validation_alias=AliasChoices(snake, camel))
    return Field(default=None, validation_alias=AliasChoices(snake, camel))


class _Plugin(Strict):
    id: str
    priority: int = 0
    config: dict[str, Any] | None = None


class _PluginChain(Strict):
    chain: list[_Plugin]
    override_previous: bool | None = _both("override_previous")


class _Events(Strict):
    error_query: str = _both("error_query", required=True)
    total_query: str = _both("total_query", required=True)


class _Raw(Strict):
    error_ratio_query: str = _both("error_ratio_query", required=True)


class _SLIPlugin(Strict):
    id: str
    options: dict[str, str] = {}


class _SLI(Strict):
    events: _Events | None = None
    raw: _Raw | None = None
    plugin: _SLIPlugin | None = None


class _Alert(Strict):
    disable: bool = False
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    for_: str | None = Field(default=None, alias="for")


class _Alerting(Strict):
    name: str | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    page_alert: _Alert | None = _both("page_alert")
    ticket_alert: _Alert | None = _both("ticket_alert")


class _SLO(Strict):
    name: str
    objective: float
    description: str = ""
    labels: dict[str, str] = {}
    sli: _SLI
    alerting: _Alerting = _Alerting()
    plugins: _PluginChain | None = None


class _Spec(Strict):
    service: str
    labels: dict[str, str] = {}
    slos: list[_SLO]
    slo_plugins: _PluginChain | None = _both("slo_plugins")


class _PromV1(_Spec):
    version: str


class _K8sMeta(Strict):
    name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


class _K8s(Strict):
    apiVersion: str
    kind: str
    metadata: _K8sMeta = _K8sMeta()
    spec: _Spec


def load(doc: dict[str, Any], file: str) -> list[SLO]:
    if doc.get("version") == PROM_V1:
        spec: _Spec = validate(_PromV1, doc, file=file)
        prefix = ""
    elif doc.get("apiVersion") == K8S_V1:
        if doc.get("kind") != "PrometheusServiceLevel":
            raise NotSupportedError(f"Sloth kind {doc.get('kind')!r} is not supported (only PrometheusServiceLevel)",
                                    file=file, field="kind")
        spec = validate(_K8s, doc, file=file).spec
        prefix = "spec."
    else:
        raise SpecError("not a Sloth spec", file=file)
    group_plugins = spec.slo_plugins.chain if spec.slo_plugins else []
    out = []
    for i, raw in enumerate(spec.slos):
        where = f"{prefix}slos[{i}]"
        try:
            for plugin in [*group_plugins, *(raw.plugins.chain if raw.plugins else [])]:
                check_slo_plugin(plugin.id)
            out.append(_to_model(spec, raw, file, where).validate())
        except SpecError as exc:
            raise exc.located(file=file, slo=raw.name) from None
    return out


def _to_model(spec: _Spec, raw: _SLO, file: str, where: str) -> SLO:
    sli_fields = [k for k in ("events", "raw", "plugin") if getattr(raw.sli, k) is not None]
    if len(sli_fields) != 1:
        raise SpecError("exactly one of events, raw and plugin is required", field=f"{where}.sli")
    sli: EventsSLI | RawSLI
    if raw.sli.events:
        bad, bad_by = window_query(raw.sli.events.error_query, file=file, slo=raw.name,
                            field=f"{where}.sli.events.error_query")
        total, total_by = window_query(raw.sli.events.total_query, file=file, slo=raw.name,
                                field=f"{where}.sli.events.total_query")
        if bad_by != total_by:  # mixed forms: keep both as written
            bad, total = _as_template(raw.sli.events.error_query), _as_template(raw.sli.events.total_query)
            bad_by = None
        sli = EventsSLI(total=total, bad=bad, group_by=bad_by or ())
    elif raw.sli.raw:
        sli = RawSLI(TemplateQuery(raw.sli.raw.error_ratio_query))
    else:
        assert raw.sli.plugin is not None
        try:
            bad_q, total_q = sli_from_plugin(raw.sli.plugin.id, raw.sli.plugin.options)
        except SpecError as exc:
            raise exc.located(field_prefix=f"{where}.sli.plugin") from None
        sli = EventsSLI(total=total_q, bad=bad_q)
    try:
        objective = percent_to_objective(raw.objective)
    except ValueError as exc:
        raise SpecError(str(exc), field=f"{where}.objective") from None
    return SLO(
        service=spec.service, name=raw.name, objective=objective, sli=sli, description=raw.description,
        labels={**spec.labels, **raw.labels}, alerting=_alerting(raw, file, where), source=file,
    )


def _as_template(text: str) -> TemplateQuery:
    return TemplateQuery(text)


def _alerting(raw: _SLO, file: str, where: str) -> Alerting | None:
    a = raw.alerting
    page = a.page_alert or _Alert()
    ticket = a.ticket_alert or _Alert()
    if page.disable and ticket.disable:
        return Alerting(name=a.name, page_enabled=False, ticket_enabled=False,
                        no_data=NoDataPolicy(enabled=False))
    tiers: dict[str, TierOverride] = {}
    for alert, severity, key in ((page, "page", "page_alert"), (ticket, "ticket", "ticket_alert")):
        if alert.for_:
            for_ = duration(alert.for_, file=file, slo=raw.name, field=f"{where}.alerting.{key}.for")
            for name in (f"{severity}-fast", f"{severity}-slow"):
                tiers[name] = TierOverride(for_=for_)
    return Alerting(
        name=a.name, labels=dict(a.labels), annotations=dict(a.annotations),
        page_enabled=not page.disable, ticket_enabled=not ticket.disable,
        page_labels=dict(page.labels), page_annotations=dict(page.annotations),
        ticket_labels=dict(ticket.labels), ticket_annotations=dict(ticket.annotations), tiers=tiers,
    )
