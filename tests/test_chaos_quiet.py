"""Quiet before the load: pending alerts hold an experiment back, firing and always-firing ones do not."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chaos.quiet import pending, wait_quiet
from foundation.process import LOOPBACK
from foundation.prometheus import Alert


def alert(name: str, state: str, **labels: str) -> Alert:
    return Alert(labels={"alertname": name, **labels}, annotations={}, state=state, active_at="", value=1.0)


def test_only_pending_alerts_that_could_page_hold_the_experiment_back() -> None:
    alerts = [alert("EngineNodeLatencyOutlier", "pending", severity="warning", pod="sales-c1-n1"),
              alert("EngineNodeDown", "firing", severity="warning"),
              alert("Watchdog", "pending", severity="none")]
    assert [a.labels["alertname"] for a in pending(alerts)] == ["EngineNodeLatencyOutlier"]


class FakeAlertsAPI:
    """Prometheus' /api/v1/alerts over real HTTP, answering a pending alert for the first ``pending_for`` calls."""

    def __init__(self, pending_for: int) -> None:
        self.calls = 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                api.calls += 1
                alerts: list[dict[str, Any]] = []
                if api.calls <= pending_for:
                    alerts.append({"labels": {"alertname": "EngineNodeLatencyOutlier", "severity": "warning"},
                                   "state": "pending", "activeAt": "2026-12-03T18:00:00Z", "value": "1"})
                body = json.dumps({"status": "success", "data": {"alerts": alerts}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def api() -> Iterator[FakeAlertsAPI]:
    a = FakeAlertsAPI(pending_for=3)
    yield a
    a.server.shutdown()
    a.server.server_close()


def test_waits_until_the_pending_alert_settles(api: FakeAlertsAPI) -> None:
    said: list[str] = []
    assert wait_quiet(api.url, timeout_s=5, say=said.append, interval_s=0.01) is None
    assert api.calls == 4 and said == ["waiting for pending alerts to settle: EngineNodeLatencyOutlier"]


def test_gives_up_with_a_note_at_the_timeout(api: FakeAlertsAPI) -> None:
    note = wait_quiet(api.url, timeout_s=0.0, interval_s=0.01)
    assert note is not None and "EngineNodeLatencyOutlier" in note


def test_no_prometheus_no_wait() -> None:
    assert wait_quiet(None) is None
    assert wait_quiet(f"http://{LOOPBACK}:9") is None  # nothing answers: the verdict says so, not this
