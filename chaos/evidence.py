"""Evidence from the live platform: counters for reconciliation, alerts as they fire, Prometheus series.

This module does the I/O; the verdicts stay pure over what it returns. Every reader tolerates a
missing component (no Prometheus, no Alertmanager): the figure is then absent, and says so, rather
than failing the experiment for a reason that is not the platform's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from chaos.verdicts.alerts import AlertObservation
from exporters import contract as c
from foundation.alertmanager import AlertmanagerClient, AlertmanagerUnavailable
from foundation.prometheus import PrometheusClient, PrometheusUnavailable
from foundation.promql import Matcher, Selector, sel


def scrape_counter(url: str, sample_name: str, timeout: float = 2.0) -> dict[tuple[tuple[str, str], ...], float]:
    """One scrape of ``url``: every sample called ``sample_name``, keyed by its sorted labels."""
    text = httpx.get(url, timeout=timeout).raise_for_status().text
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample_name:
                out[tuple(sorted(s.labels.items()))] = float(s.value)
    return out


def gateway_requests(gateway_url: str) -> dict[str, float] | None:
    """Client requests the gateway answered so far, per engine (its latency histogram's count)."""
    try:
        samples = scrape_counter(f"{gateway_url}/metrics", c.GATEWAY_REQUEST_DURATION.count)
    except (httpx.HTTPError, ValueError):
        return None
    out: dict[str, float] = {}
    for labels, value in samples.items():
        engine = dict(labels).get("engine", "")
        out[engine] = out.get(engine, 0.0) + value
    return out


def counter_increase(points: Sequence[tuple[float, float]], t0: float, scrape_interval_s: float = 1.0) -> float:
    """Exact increase of one counter series from its raw samples, resets included, no extrapolation.

    A series whose first sample comes well after ``t0`` belongs to a process started during the
    window: it counted from zero.
    """
    if not points:
        return 0.0
    pts = sorted(points)
    total = pts[0][1] if pts[0][0] > t0 + 1.5 * scrape_interval_s else 0.0
    for (_, prev), (_, cur) in zip(pts, pts[1:], strict=False):
        total += cur - prev if cur >= prev else cur
    return total


def node_executions(prom: PrometheusClient, engines: Iterable[str], t0: float, t1: float) -> dict[str, float] | None:
    """Queries the nodes of each engine executed to a successful end in [t0, t1], from raw samples.

    The counts a killed node made after its last scrape are lost, so this is a lower bound.
    """
    ok = sel(c.QUERY_DURATION, "count", engine="~" + "|".join(engines), status="ok")
    try:
        found = prom.samples(ok, int(t1 - t0) + 3, t1)
    except PrometheusUnavailable:
        return None
    out: dict[str, float] = {}
    for series in found:
        engine = series.labels.get("engine", "")
        points = [(t, v) for t, v in series.points if t >= t0 - 2]
        out[engine] = out.get(engine, 0.0) + counter_increase(points, t0)
    return out


def burn_rate_expr(engines: Sequence[str], objective: float, window: str) -> str:
    """The availability burn rate of the engines at the gateway, built from the metric contract."""
    engine = "~" + "|".join(engines)
    bad = f"sum(rate({sel(c.GATEWAY_ERRORS, engine=engine, error_type='~' + c.PLATFORM_ERRORS_RE)}[{window}]))"
    total = f"sum(rate({sel(c.GATEWAY_REQUEST_DURATION, 'count', engine=engine)}[{window}]))"
    return f"(({bad}) or vector(0)) / ({total}) / {1 - objective:.10g}"


def parse_ts(text: str | None) -> float | None:
    if not text or text.startswith("0001-"):
        return None
    try:
        # Prometheus writes nanoseconds; datetime takes microseconds.
        head, _, frac = text.rstrip("Z").partition(".")
        tz = "+00:00"
        if "+" in frac or "-" in frac:
            for sign in "+-":
                if sign in frac:
                    frac, tz = frac.split(sign, 1)
                    tz = sign + tz
                    break
        iso = f"{head}.{(frac or '0')[:6]}{tz}"
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


class AlertWatcher:
    """Polls Prometheus (pending/firing, activeAt) and Alertmanager (delivered) while an experiment runs."""

    def __init__(self, prometheus_url: str | None, alertmanager_url: str | None, interval_s: float = 0.5,
                 on_new: Callable[[str, dict[str, str]], None] | None = None) -> None:
        self.on_new = on_new  # called (from the watcher's thread) when an alert is first seen firing
        self.prometheus_url = prometheus_url
        self.alertmanager_url = alertmanager_url
        self.interval_s = interval_s
        self._seen: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Short timeouts: a poll must never hold up the experiment's clock.
        self._client = httpx.Client(timeout=2.0)
        self._prometheus = PrometheusClient(prometheus_url or "http://127.0.0.1:0", timeout=2.0, client=self._client)
        self._alertmanager = AlertmanagerClient(alertmanager_url or "http://127.0.0.1:0", timeout=2.0,
                                                client=self._client)
        self.errors: list[str] = []

    @property
    def enabled(self) -> bool:
        return bool(self.prometheus_url or self.alertmanager_url)

    def start(self) -> AlertWatcher:
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="chaos-alerts", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll()

    def poll(self) -> None:
        now = time.time()
        if self.prometheus_url:
            try:
                for a in self._prometheus.alerts():
                    if a.state == "firing":
                        self._note(a.labels, a.annotations, parse_ts(a.active_at), None, now)
            except PrometheusUnavailable as e:
                self._error(f"prometheus alerts: {e}")
        if self.alertmanager_url:
            try:
                for alert in self._alertmanager.alerts():
                    self._note(alert.labels, alert.annotations, None, now, now)
            except AlertmanagerUnavailable as e:
                self._error(f"alertmanager alerts: {e}")

    def _error(self, message: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(message)

    def _note(self, labels: Mapping[str, str], annotations: Mapping[str, str], active_at: float | None,
              delivered: float | None, now: float) -> None:
        # Alertmanager adds no labels of its own, so both sources key the same alert the same way.
        key = (labels.get("alertname", ""), tuple(sorted(labels.items())))
        with self._lock:
            new = key not in self._seen
            entry = self._seen.setdefault(key, {"labels": dict(labels), "annotations": dict(annotations),
                                                "active_at": None, "delivered": None, "first_seen": now})
            if active_at is not None and entry["active_at"] is None:
                entry["active_at"] = active_at
            if delivered is not None and entry["delivered"] is None:
                entry["delivered"] = delivered
        if new and self.on_new is not None:
            self.on_new(key[0], dict(labels))

    def _hold_durations(self) -> dict[str, float]:
        """Each alerting rule's ``for``: an alert fires that long after it became active."""
        if not self.prometheus_url:
            return {}
        try:
            return {rule.name: rule.duration for rule in self._prometheus.rules() if rule.type == "alerting"}
        except PrometheusUnavailable:
            return {}

    def observations(self, since: float = 0.0) -> list[AlertObservation]:
        """Alerts that fired at or after ``since``; ``active_at`` is when the rule's condition held for
        its whole ``for`` (the firing moment, as precise as the rule evaluation)."""
        out = []
        with self._lock:
            items = list(self._seen.items())
        hold = self._hold_durations()
        for (name, _), e in items:
            fired = e["active_at"] + hold.get(name, 0.0) if e["active_at"] is not None else None
            started = fired if fired is not None else e["first_seen"]
            if started < since:
                continue
            out.append(AlertObservation(name, e["labels"], fired, e["delivered"] or e["first_seen"],
                                        e["labels"].get("severity", ""),
                                        "alertmanager" if e["delivered"] else "prometheus", e["annotations"]))
        return sorted(out, key=lambda o: (o.active_at or o.first_seen or 0.0, o.name))

    def preexisting(self, before: float) -> list[str]:
        with self._lock:
            return sorted({name for (name, _), e in self._seen.items()
                           if (e["active_at"] if e["active_at"] is not None else e["first_seen"]) < before})


#: Prometheus' own series of active alerts, one sample per evaluation while an alert is pending or firing.
ACTIVE_ALERTS = Selector("ALERTS", (Matcher("alertstate", "=~", "firing|pending"),))
AlertSamples = list[tuple[dict[str, str], list[float]]]


def firing_alerts(prometheus_url: str | None, start: float, end: float,
                  lookback_s: float = 10.0) -> tuple[AlertSamples, frozenset[str], float] | None:
    """Every ``ALERTS`` series' (firing and pending) sample times in ``[start - lookback_s, end)``, the
    dead man's switch rules (``vector(1)``: firing by design), and the evaluation interval the samples
    show; None when Prometheus cannot be asked. The look-back tells an alert that starts firing in the
    window from one that was firing already."""
    if not prometheus_url or end <= start:
        return None
    try:
        with PrometheusClient(prometheus_url, timeout=5) as prom:
            found = prom.samples(ACTIVE_ALERTS.promql(), end - start + lookback_s, end)
            switches = frozenset(r.name for r in prom.rules()
                                 if r.type == "alerting" and r.query.replace(" ", "") == "vector(1)")
    except PrometheusUnavailable:
        return None
    series = [(dict(s.labels), [t for t, _ in s.points if t < end]) for s in found]
    steps = sorted(b - a for _, ts in series for a, b in zip(ts, ts[1:], strict=False) if b > a)
    interval = steps[len(steps) // 2] if steps else 1.0
    return [s for s in series if s[1]], switches, interval
