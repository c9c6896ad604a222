"""The SLO service against a real Prometheus: API, OpenAPI, /metrics, bad requests, outage and recovery.

Synthetic gateway traffic comes from the gateway's own metrics library (exporters.gateway_metrics),
served on loopback and scraped by a real Prometheus that runs the generated local-profile SLO rules.
The service runs as a subprocess (``python -m slo.service``), exactly as the stack starts it.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from enginewatch.prometheus import PrometheusServer
from exporters import contract as c
from exporters.gateway_metrics import GatewayMetrics
from foundation.process import ManagedProcess, python_module, wait_until, write_atomic
from foundation.prometheus import PrometheusClient
from slo.artifacts import ALERTS_DIR

LOCAL_RULES = ALERTS_DIR / "platform-slos-local.rules.yml"
TICK = 0.1


@dataclass
class Engine:
    """Requests per second, and which share of them fail (platform errors) or are slow (> 1 s)."""

    name: str
    rate: float
    error_ratio: float = 0.0
    slow_ratio: float = 0.0
    errors_after: float = 0.0  # seconds after the start before errors begin
    _carry: dict[str, float] = field(default_factory=dict)

    def take(self, kind: str, amount: float) -> int:
        """Whole events due this tick; fractions carry over, so low rates are exact on average."""
        total = self._carry.get(kind, 0.0) + amount
        whole = int(total)
        self._carry[kind] = total - whole
        return whole


class Traffic:
    """A gateway-metrics exporter on loopback whose counters a thread drives at fixed rates."""

    def __init__(self, engines: list[Engine]) -> None:
        from prometheus_client import start_http_server

        self.engines = engines
        self.metrics = GatewayMetrics(process=False)
        self.server, _thread = start_http_server(0, addr="127.0.0.1", registry=self.metrics.registry)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(TICK):
            elapsed = time.monotonic() - self.started
            for e in self.engines:
                series = self.metrics.engine(e.name)
                n = e.take("all", e.rate * TICK)
                failing = e.error_ratio if elapsed >= e.errors_after else 0.0
                bad = e.take("bad", n * failing)
                slow = e.take("slow", (n - bad) * e.slow_ratio)
                for _ in range(bad):
                    series.observe("lookup", False, 0.02)
                    series.count_error("unavailable")
                for _ in range(slow):
                    series.observe("lookup", True, 2.0)
                for _ in range(n - bad - slow):
                    series.observe("lookup", True, 0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.server.shutdown()
        self.server.server_close()


# Every query is a lookup (interactive; no scans: their SLO has no traffic, which is not no data).
# sales: healthy but spending (availability 0.03% of 0.1%, latency 0.4% of 1%); analytics: an outage
# of 10% platform errors from 20 s in, which fires every tier of gateway availability.
def engines() -> list[Engine]:
    return [Engine("sales", 200, error_ratio=0.0003, slow_ratio=0.004),
            Engine("analytics", 100, error_ratio=0.10, slow_ratio=0.002, errors_after=20)]


class Service:
    """``python -m slo.service`` as the stack starts it, stopped by PID."""

    def __init__(self, workdir: Path, url_file: Path, *extra: str) -> None:
        port_file = workdir / "slo-service.port"
        self.process = ManagedProcess("slo-service", python_module(
            "slo.service", "--port", "0", "--port-file", str(port_file), "--prometheus-file", str(url_file), *extra),
            log_path=workdir / "slo-service.log").start()
        wait_until(lambda: port_file.exists() or not self.process.alive, 30, what="SLO service to listen")
        assert self.process.alive, self.process.log_tail()
        self.url = f"http://127.0.0.1:{int(port_file.read_text())}"
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def stop(self) -> None:
        self.http.close()
        assert self.process.stop(grace=10) is not None


class Setup:
    """Traffic → Prometheus (local SLO rules) → SLO service, which finds Prometheus through a URL file."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.url_file = workdir / "prometheus.url"
        self.traffic = Traffic(engines())
        self.prometheus: PrometheusServer | None = None
        self.service: Service | None = None

    def start(self) -> Setup:
        try:
            self.start_prometheus()
            self.service = Service(self.workdir, self.url_file)
            # Prometheus scrapes the service, as in the stack: add the target once its port is known.
            self.prom.targets[c.JOB_SLO_SERVICE] = self.service.url
            self.prom.reload()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def prom(self) -> PrometheusServer:
        assert self.prometheus is not None
        return self.prometheus

    @property
    def http(self) -> httpx.Client:
        assert self.service is not None
        return self.service.http

    def start_prometheus(self) -> PrometheusServer:
        """A Prometheus over the same TSDB (on a new port) whose URL the service finds in its file."""
        targets = {c.JOB_GATEWAY: self.traffic.url}
        if self.service:
            targets[c.JOB_SLO_SERVICE] = self.service.url
        self.prometheus = PrometheusServer(self.workdir / "prometheus", self.workdir / "state",
                                           data_dir=self.workdir / "tsdb", targets=targets,
                                           rule_files=[LOCAL_RULES]).start()
        write_atomic(self.url_file, self.prometheus.url)
        return self.prometheus

    def stop(self) -> None:
        """Every process we started, by PID, even when one of the stops fails."""
        for stop in (self.service.stop if self.service else None, self.prom.stop if self.prometheus else None,
                     self.traffic.stop):
            if stop is not None:
                with contextlib.suppress(Exception):
                    stop()


def wait_for_burn(setup: Setup, timeout: float = 45.0) -> None:
    """Until analytics' outage fires the page tiers and every engine's budget is known."""

    def ready() -> bool:
        body = setup.http.get("/api/v1/slos/gateway-availability").json()
        groups = {g["labels"].get("engine"): g for g in body["groups"]}
        return ("page-fast" in groups["analytics"]["firing"] and groups["sales"]["budget_remaining"] is not None
                and groups["analytics"]["budget_remaining"] is not None)

    wait_until(ready, timeout, 0.5, "the analytics outage to page")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    s = Setup(tmp_path_factory.mktemp("slo-service")).start()
    try:
        wait_for_burn(s)
        yield s
    finally:
        s.stop()


def _no_nan(value: object) -> None:
    if isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, dict):
        for v in value.values():
            _no_nan(v)
    elif isinstance(value, list):
        for v in value:
            _no_nan(v)


# --- API -------------------------------------------------------------------------------------------

def test_list_is_sorted_worst_budget_first_and_no_data_last(setup: Setup) -> None:
    r = setup.http.get("/api/v1/slos")
    assert r.status_code == 200
    slos = r.json()["slos"]
    _no_nan(slos)
    names = [s["name"] for s in slos]
    assert set(names) == {"gateway-availability", "gateway-interactive-latency", "gateway-scan-latency",
                          "gateway-batch-latency", "query-core-availability", "control-plane-engine-start-latency"}
    assert names[0] == "gateway-availability"  # analytics' outage overspent it
    assert slos[0]["budget_remaining"] < 0 and slos[0]["firing"]
    # No node metrics and no engine starts here: no data, reported as null, never as a full budget.
    for s in slos[2:]:
        assert s["budget_remaining"] is None
        assert all(not g["has_data"] and g["sli"] is None for g in s["groups"])
    budgets = [s["budget_remaining"] for s in slos[:2]]
    assert budgets == sorted(budgets)


def test_detail_has_windows_tiers_budget_and_time_to_exhaustion(setup: Setup) -> None:
    body = setup.http.get("/api/v1/slos/gateway-availability").json()
    _no_nan(body)
    assert body["profile"] == "local" and body["period"] == "12h"  # from slo:info: the deployed rules
    groups = {g["labels"]["engine"]: g for g in body["groups"] if g["has_data"]}
    sales, analytics = groups["sales"], groups["analytics"]
    tiers = {t["name"]: t for t in analytics["tiers"]}
    assert list(tiers) == ["page-fast", "page-slow", "ticket-fast", "ticket-slow"]
    assert tiers["page-fast"]["burn_rate_threshold"] == pytest.approx(14.4)
    assert tiers["page-fast"]["long_window"]["window"] == "1m" and tiers["page-fast"]["short_window"]["window"] == "5s"
    assert tiers["page-fast"]["active"] and tiers["page-fast"]["short_window"]["burn_rate"] > 14.4
    assert analytics["budget_remaining"] < 0 and analytics["time_to_exhaustion_seconds"] == 0
    # sales spends 0.03% against a 0.1% budget: burning at about 0.3x, most of the budget left.
    assert 0.5 < sales["budget_remaining"] < 0.9
    assert sales["firing"] == [] and sales["burning"] is True
    assert 0.05 < sales["burn_rate"] < 1.0
    assert sales["time_to_exhaustion_seconds"] > 12 * 3600  # a burn below 1x outlasts the period
    assert 0.999 < sales["sli_period"] < 1
    windows = [w["window"] for w in sales["windows"]]
    assert windows == ["5s", "30s", "1m", "2m", "6m", "24m", "1h12m"]


def test_history_is_the_budget_burn_down(setup: Setup) -> None:
    def history() -> dict:
        r = setup.http.get("/api/v1/slos/gateway-availability/history", params={"range": "2m", "step": "5s"})
        assert r.status_code == 200
        return r.json()

    def last(body: dict, engine: str) -> float | None:
        points = next(s["points"] for s in body["series"] if s["labels"]["engine"] == engine)
        return next((v for _, v in reversed(points) if v is not None), None)

    # The budget rules run every 10 s in the local profile: wait for the one after the outage began.
    wait_until(lambda: (last(history(), "analytics") or 1) < 0, 20, 1, "the recorded budget to go negative")
    body = history()
    assert body["step"] == 5 and body["end"] - body["start"] == 120
    series = {s["labels"]["engine"]: s["points"] for s in body["series"]}
    assert {"sales", "analytics"} <= set(series)
    assert len(series["sales"]) == 25
    values = [v for _, v in series["analytics"] if v is not None]
    assert values[0] == 1 and values[-1] < 0  # a full budget before the outage, overspent after it
    assert series["sales"][0][1] is None  # before the first recording: null, not a full budget


def test_backtest_from_prometheus_and_from_csv(setup: Setup) -> None:
    r = setup.http.post("/api/v1/backtest", json={"slo": "gateway-availability", "range": {"range": "1m"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["history_source"] == "prometheus" and body["policies"] == ["local"] and body["step_seconds"] == 1
    rows = {t["tier"]: t for t in body["tiers"]}
    assert {"page-fast", "page", "ticket"} <= set(rows)
    assert rows["page"]["alerts"] >= 1
    # CSV: a day of 1-minute counts with a 20-minute total outage, against the Google 30-day policy.
    lines = ["timestamp,total,errors"]
    for i in range(1440):
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_767_225_600 + 60 * i))
        lines.append(f"{ts},600,{600 if 600 <= i < 620 else 0}")
    r = setup.http.post(
        "/api/v1/backtest/csv", params={"slo": "gateway-availability", "policy": "google-30d",
                                        "compare": "pyrra-30d"},
        content="\n".join(lines), headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["history_source"] == "csv" and body["intervals"] == 1440 and body["incidents"] == 1
    ours = {t["tier"]: t for t in body["tiers"] if t["policy"] == "google-30d"}
    pyrra = {t["tier"]: t for t in body["tiers"] if t["policy"] == "pyrra-30d"}
    assert ours["page"]["recall"] == 1 and ours["page"]["precision"] == 1
    # Detection counts from the incident's inferred start, which the backtester may place up to its
    # 5-minute detection window early; Pyrra's tiers also wait for their `for` (2 minutes).
    assert 0 < ours["page"]["detection_seconds"] <= 300
    assert pyrra["page"]["detection_seconds"] == ours["page"]["detection_seconds"] + 120


def test_backtest_of_an_uploaded_spec(setup: Setup) -> None:
    spec = {"version": "prometheus/v1", "service": "shop", "slos": [{
        "name": "checkout", "objective": 99.0,
        "sli": {"events": {"error_query": 'sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))',
                           "total_query": "sum(rate(http_requests_total[{{.window}}]))"}},
        "alerting": {"name": "CheckoutBurn", "page_alert": {}, "ticket_alert": {}}}]}
    csv = "timestamp,total,good\n" + "\n".join(
        f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(1_767_225_600 + 300 * i))},3000,{3000 if i % 50 else 2000}"
        for i in range(2000))
    r = setup.http.post("/api/v1/backtest", json={"spec": spec, "csv": csv})
    assert r.status_code == 200, r.text
    assert r.json()["slo"] == "shop-checkout" and r.json()["policies"] == ["google-30d"]


def test_unknown_slo_is_404_with_the_known_ones(setup: Setup) -> None:
    for path in ("/api/v1/slos/nope", "/api/v1/slos/nope/history"):
        r = setup.http.get(path)
        assert r.status_code == 404
        assert "nope" in r.json()["error"] and "gateway-availability" in r.json()["known"]
    r = setup.http.post("/api/v1/backtest", json={"slo": "nope", "csv": "timestamp,total,errors\n"})
    assert r.status_code == 404
    r = setup.http.get("/slo/nope")
    assert r.status_code == 404 and "gateway-interactive-latency" in r.text


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "message"), [
    ("get", "/api/v1/slos/gateway-availability/history", {"params": {"range": "soon"}}, 400, "range"),
    ("get", "/api/v1/slos/gateway-availability/history", {"params": {"range": "30d", "step": "1s"}}, 400,
     "at most"),
    ("post", "/api/v1/backtest", {"json": {"slo": "gateway-availability"}}, 422, "exactly one history"),
    ("post", "/api/v1/backtest", {"json": {"slo": "gateway-availability", "csv": "a,b\n1,2\n3,4\n"}}, 400,
     "columns"),
    ("post", "/api/v1/backtest", {"json": {"slo": "gateway-availability", "csv": "x", "policy": "nope"}}, 400,
     "unknown window profile"),
    ("post", "/api/v1/backtest", {"json": {"spec": "version: prometheus/v1\nservice: s\nslos: [{name: x}]\n",
                                           "csv": "x"}}, 400, "spec"),
    ("post", "/api/v1/backtest", {"content": "not json", "headers": {"content-type": "application/json"}}, 422,
     "JSON"),
])
def test_bad_requests_get_a_message_never_a_trace(setup: Setup, method: str, path: str, kwargs: dict,
                                                 status: int, message: str) -> None:
    r = getattr(setup.http, method)(path, **kwargs)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert message in error and "Traceback" not in error


def test_openapi_schema_documents_the_api(setup: Setup) -> None:
    schema = setup.http.get("/openapi.json").json()
    paths = schema["paths"]
    assert {"/api/v1/slos", "/api/v1/slos/{name}", "/api/v1/slos/{name}/history", "/api/v1/backtest",
            "/api/v1/backtest/csv"} <= set(paths)
    assert "503" in paths["/api/v1/slos"]["get"]["responses"]
    assert "404" in paths["/api/v1/slos/{name}"]["get"]["responses"]
    assert "text/csv" in paths["/api/v1/backtest/csv"]["post"]["requestBody"]["content"]
    assert {"SLODetail", "TierStatus", "BacktestRequest", "ErrorBody"} <= set(schema["components"]["schemas"])


def test_golden_signals_on_metrics_are_scraped_by_prometheus(setup: Setup) -> None:
    text = setup.http.get("/metrics").text
    assert 'slo_service_request_duration_seconds_count{route="/api/v1/slos/{name}",status_class="2xx"}' in text
    assert 'slo_service_errors_total{route="/api/v1/slos/{name}",status_class="4xx"}' in text
    assert "/api/v1/slos/nope" not in text  # route templates only: clients cannot create series
    prom = PrometheusClient(setup.prom.url)
    try:
        prom.wait_for(f'sum(slo_service_request_duration_seconds_count{{job="{c.JOB_SLO_SERVICE}"}})',
                      lambda s: bool(s) and s[0].value > 0, timeout=15)
    finally:
        prom.close()


# --- outage and recovery (last: it stops Prometheus) -----------------------------------------------

def test_prometheus_down_is_503_with_the_data_source_error_then_recovers(setup: Setup) -> None:
    down_url = setup.prom.url
    setup.prom.stop()
    r = setup.http.get("/api/v1/slos")
    assert r.status_code == 503
    body = r.json()
    assert body["error"] == "the data source (Prometheus) did not answer"
    assert body["data_source"].startswith(f"Prometheus at {down_url}: cannot connect")
    for path in ("/api/v1/slos/gateway-interactive-latency", "/api/v1/slos/gateway-interactive-latency/history"):
        assert setup.http.get(path).status_code == 503
    page = setup.http.get("/")
    assert page.status_code == 503 and "Prometheus is not answering" in page.text and down_url in page.text
    assert "gateway-availability" in page.text  # the catalog is still listed
    # A CSV backtest needs no Prometheus.
    csv = "timestamp,total,errors\n2026-01-01T00:01:00Z,60,0\n2026-01-01T00:02:00Z,60,1\n"
    r = setup.http.post("/api/v1/backtest", json={"slo": "gateway-interactive-latency", "csv": csv})
    assert r.status_code == 200, r.text
    metrics = setup.http.get("/metrics").text
    assert 'slo_service_datasource_errors_total{kind="connection"}' in metrics
    assert 'route="/api/v1/slos",status_class="5xx"' in metrics

    setup.start_prometheus()  # same TSDB, another port: the service re-reads the URL file
    wait_until(lambda: setup.http.get("/api/v1/slos").status_code == 200, 30, 0.5, "recovery")
    r = setup.http.get("/api/v1/slos/gateway-availability")
    groups = {g["labels"]["engine"]: g for g in r.json()["groups"] if g["has_data"]}
    assert groups["sales"]["budget_remaining"] is not None  # the history survived the restart
    assert setup.http.get("/").status_code == 200
