"""The sources a diagnosis reads — Prometheus, the orchestrator, the gateway's query history and Loki — behind
one object that records every query a check runs and remembers a source that is down.

A source that fails once is not asked again: the remaining checks that need it are reported as not
checked instead of each waiting for its own timeout. ``DryContext`` answers nothing and only records,
which is how the runbook pages list the PromQL of every diagnosis step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exporters import contract as c
from foundation.gateway import GatewayAdminClient, GatewayRefused, GatewayUnavailable
from foundation.loki import LogLine, LokiClient, LokiRefused, LokiUnavailable
from foundation.orchestrator import OrchestratorClient, OrchestratorRefused, OrchestratorUnavailable
from foundation.prometheus import Alert, PrometheusClient, PrometheusUnavailable, Sample
from foundation.promql import Part, labels_of, sel
from runbooks.diagnosis.model import CheckRun, Finding, Scope, Source

SCOPE_LABELS: tuple[str, ...] = ("engine", "cluster")


class SourceDown(Exception):
    def __init__(self, source: Source, url: str, error: str) -> None:
        super().__init__(f"{source} at {url}: {error}")
        self.source, self.url, self.error = source, url, error


class CheckError(Exception):
    """The source answered, but not what the check needs (a rejected query, an unexpected answer)."""


class Facts:
    """What checks learned that mitigation commands need: the engine, the suspect pod, healthy clusters.

    The first check to suggest a value wins: checks run from the most to the least specific evidence.
    """

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def suggest(self, key: str, value: object) -> None:
        if value not in (None, "", []):
            self._values.setdefault(key, str(value))

    def get(self, key: str) -> str | None:
        return self._values.get(key)

    def as_dict(self) -> dict[str, str]:
        return dict(self._values)


@dataclass(frozen=True)
class Check:
    title: str
    source: Source
    run: Callable[[Context], list[Finding]]


class Context:
    def __init__(self, scope: Scope, prometheus: PrometheusClient | None,
                 orchestrator: OrchestratorClient | None, gateway: GatewayAdminClient | None = None,
                 loki: LokiClient | None = None) -> None:
        self.scope = scope
        self.facts = Facts()
        self._prom = prometheus
        self._orch = orchestrator
        self._gateway = gateway
        self._loki = loki
        self._down: dict[Source, SourceDown] = {}
        self._cache: dict[str, Any] = {}
        self._run: CheckRun | None = None
        if scope.engine:
            self.facts.suggest("engine", scope.engine)

    # --- bookkeeping ---------------------------------------------------------------------------------

    def begin(self, run: CheckRun) -> None:
        self._run = run

    def _record(self, query: str) -> None:
        if self._run is not None and query not in self._run.queries:
            self._run.queries.append(query)

    def down(self, source: Source) -> SourceDown | None:
        return self._down.get(source)

    def _fail(self, source: Source, url: str, error: str) -> SourceDown:
        self._down[source] = SourceDown(source, url, error)
        return self._down[source]

    # --- Prometheus ------------------------------------------------------------------------------------

    def sel(self, metric: c.Metric, part: Part = "", **labels: str) -> str:
        """A selector of ``metric`` narrowed to the scope's engine and cluster where the metric has them."""
        has = labels_of(metric, part)
        for label in SCOPE_LABELS:
            value = getattr(self.scope, label)
            if value and label in has and label not in labels:
                labels[label] = value
        return sel(metric, part, **labels)

    def promql(self, expr: str) -> list[Sample]:
        self._record(expr)
        if "prometheus" in self._down:
            raise self._down["prometheus"]
        if self._prom is None:
            raise self._fail("prometheus", "(none)", "no Prometheus URL: give --prometheus or start a stack")
        try:
            return self._prom.query(expr)
        except PrometheusUnavailable as e:
            if e.kind == "api":
                raise CheckError(e.message) from None
            raise self._fail("prometheus", self._prom.url, e.message) from None

    def prom_alerts(self) -> list[Alert]:
        self._record("GET /api/v1/alerts")
        if "prometheus" in self._down:
            raise self._down["prometheus"]
        if self._prom is None:
            raise self._fail("prometheus", "(none)", "no Prometheus URL: give --prometheus or start a stack")
        try:
            return self._prom.alerts()
        except PrometheusUnavailable as e:
            raise self._fail("prometheus", self._prom.url, e.message) from None

    # --- orchestrator --------------------------------------------------------------------------------

    def _get(self, label: str, fetch: Callable[[OrchestratorClient], Any]) -> Any:
        self._record(label)
        if "orchestrator" in self._down:
            raise self._down["orchestrator"]
        if self._orch is None:
            raise self._fail("orchestrator", "(none)", "no orchestrator URL: give --orchestrator or start a stack")
        if label not in self._cache:
            try:
                self._cache[label] = fetch(self._orch)
            except OrchestratorUnavailable as e:
                raise self._fail("orchestrator", self._orch.url, str(e).split(": ", 1)[-1]) from None
            except OrchestratorRefused as e:
                raise CheckError(f"the orchestrator answered {e.status}: {e}") from None
        return self._cache[label]

    def all_engines(self) -> list[dict[str, Any]]:
        engines: list[dict[str, Any]] = self._get("GET /v1/engines", lambda o: o.engines())
        return engines

    def engines(self) -> list[dict[str, Any]]:
        return [e for e in self.all_engines() if self.scope.covers(e["name"])]

    def pods(self) -> list[dict[str, Any]]:
        pods: list[dict[str, Any]] = self._get("GET /v1/pods", lambda o: o.pods())
        return [p for p in pods if self.scope.covers(p["engine"], p["cluster"])]

    def events(self) -> list[dict[str, Any]]:
        """Events of the scope within the window, oldest first."""
        import time

        events: list[dict[str, Any]] = self._get("GET /v1/events", lambda o: o.events())
        since = time.time() - self.scope.window_s
        return [e for e in events
                if e["ts"] >= since and (e.get("engine") is None or self.scope.covers(e["engine"], e.get("cluster")))]


    # --- the gateway's query history ---------------------------------------------------------------

    def live_queries(self) -> list[dict[str, Any]]:
        """Live queries of the scope's engine (or the fleet), longest-running first."""
        label = f"GET /admin/queries?running=1{'&engine=' + self.scope.engine if self.scope.engine else ''}"
        self._record(label)
        if "gateway" in self._down:
            raise self._down["gateway"]
        if self._gateway is None:
            raise self._fail("gateway", "(none)", "no gateway URL and admin token: start a stack")
        try:
            queries: list[dict[str, Any]] = self._gateway.running(self.scope.engine)
        except GatewayUnavailable as e:
            raise self._fail("gateway", self._gateway.url, e.reason) from None
        except GatewayRefused as e:
            raise CheckError(f"the gateway answered {e.status}: {e}") from None
        return [q for q in queries if self.scope.covers(q.get("engine"), q.get("cluster"))]

    # --- Loki --------------------------------------------------------------------------------------

    def log_lines(self, logql: str, limit: int = 5) -> list[LogLine]:
        """The newest lines matching ``logql`` within the scope's window."""
        self._record(logql)
        if "loki" in self._down:
            raise self._down["loki"]
        if self._loki is None:
            raise self._fail("loki", "(none)", "no Loki URL: start a stack with logs")
        try:
            return self._loki.query_range(logql, since_s=self.scope.window_s, limit=limit)
        except LokiUnavailable as e:
            raise self._fail("loki", self._loki.url, e.reason) from None
        except LokiRefused as e:
            raise CheckError(str(e)) from None


class DryContext(Context):
    """Answers every query with nothing, so that a playbook's checks reveal the queries they run."""

    def __init__(self, scope: Scope) -> None:
        super().__init__(scope, None, None)

    def promql(self, expr: str) -> list[Sample]:
        self._record(expr)
        return []

    def prom_alerts(self) -> list[Alert]:
        self._record("GET /api/v1/alerts")
        return []

    def _get(self, label: str, fetch: Callable[[OrchestratorClient], Any]) -> Any:
        self._record(label)
        return []

    def live_queries(self) -> list[dict[str, Any]]:
        self._record(f"GET /admin/queries?running=1{'&engine=' + self.scope.engine if self.scope.engine else ''}")
        return []

    def log_lines(self, logql: str, limit: int = 5) -> list[LogLine]:
        self._record(logql)
        return []
