"""The SLO service's maintenance API in process: windows, their metric, and every refusal with a message.

Without an Alertmanager the windows only exclude events; with one that does not answer, no window opens
(the live test, tests/test_slo_maintenance_live.py, creates and expires real silences).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from slo.maintenance import MaintenanceWindow
from slo.service.app import ServiceConfig, create_app
from slo.specs import platform_slos

API = "/api/v1/maintenance"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = create_app(ServiceConfig(prometheus=f"http://127.0.0.1:{_closed_port()}"), platform_slos())
    with TestClient(app) as c:
        yield c


def _metric_lines(client: TestClient) -> list[str]:
    return sorted(line for line in client.get("/metrics").text.splitlines()
                  if line.startswith("slo_maintenance_window_active{"))


def test_a_window_covers_the_slos_it_names_is_exported_and_ends_on_delete(client: TestClient) -> None:
    assert _metric_lines(client) == []
    r = client.post(API, json={"engine": "sales", "duration": "30m", "reason": "node pool upgrade"})
    assert r.status_code == 201, r.text
    w = r.json()
    # Every served SLO split by engine; the control plane's start latency is not.
    assert w["slo"] is None and "control-plane-engine-start-latency" not in w["slos"]
    assert set(w["slos"]) == {s.id for s in platform_slos() if "engine" in s.sli.group_by}
    assert w["state"] == "active" and w["silence_id"] is None and w["source"] == "api"
    assert _metric_lines(client) == sorted(f'slo_maintenance_window_active{{engine="sales",slo="{s}"}} 1.0'
                                           for s in w["slos"])
    whole = client.post(API, json={"slo": "control-plane-engine-start-latency", "duration": "1h", "reason": "x"})
    assert whole.status_code == 201 and whole.json()["slos"] == ["control-plane-engine-start-latency"]
    assert 'slo_maintenance_window_active{engine="",slo="control-plane-engine-start-latency"} 1.0' \
        in _metric_lines(client)
    ended = client.delete(f"{API}/{w['id']}")
    assert ended.status_code == 200 and ended.json()["state"] == "ended"
    assert all('engine="sales"' not in line for line in _metric_lines(client))
    states = {x["id"]: x["state"] for x in client.get(API).json()["windows"]}
    assert states == {w["id"]: "ended", whole.json()["id"]: "active"}


def test_a_scheduled_window_is_not_exported_before_it_starts(client: TestClient) -> None:
    start = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = client.post(API, json={"slo": "gateway-availability", "start": start, "duration": "1h", "reason": "later"})
    assert r.status_code == 201 and r.json()["state"] == "scheduled"
    assert _metric_lines(client) == []


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"slo": "nope", "duration": "1h", "reason": "r"}, 400, "unknown SLO 'nope'; known: "),
    ({"duration": "1h"}, 422, "reason"),
    ({"duration": "1h", "reason": ""}, 422, "reason"),
    ({"reason": "r"}, 400, "exactly one of end and duration"),
    ({"duration": "soon", "reason": "r"}, 400, "duration: "),
    ({"start": "2026-12-24T02:00:00", "duration": "1h", "reason": "r"}, 422, "timezone"),
    ({"start": "2020-01-01T00:00:00Z", "duration": "1h", "reason": "r"}, 400, "in the past"),
    ({"start": "2099-01-01T02:00:00Z", "end": "2099-01-01T01:00:00Z", "reason": "r"}, 400, "is not after start"),
    ({"slo": "control-plane-engine-start-latency", "engine": "sales", "duration": "1h", "reason": "r"}, 400,
     "is not split by engine"),
    ({"duration": "1h", "reason": "r", "matchers": {}}, 422, "matchers"),
])
def test_bad_requests_are_refused_with_a_message(client: TestClient, body: dict, status: int, message: str) -> None:
    r = client.post(API, json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]


def test_unknown_and_declared_windows_cannot_be_deleted(client: TestClient) -> None:
    r = client.delete(f"{API}/nope")
    assert r.status_code == 404 and "GET /api/v1/maintenance lists them" in r.json()["error"]
    shared = MaintenanceWindow(4102444800, 4102448400, "declared")  # 2100-01-01, an hour
    slos = [replace(s, maintenance=(shared,)) for s in platform_slos()]
    with TestClient(create_app(ServiceConfig(prometheus=f"http://127.0.0.1:{_closed_port()}"), slos)) as c:
        (w,) = c.get(API).json()["windows"]
        assert w["source"] == "spec" and w["slo"] is None and len(w["slos"]) == len(slos)
        assert w["start"] == "2100-01-01T00:00:00Z" and w["state"] == "scheduled"
        r = c.delete(f"{API}/{w['id']}")
        assert r.status_code == 409 and "declared in a spec" in r.json()["error"]


def test_no_window_opens_when_alertmanager_does_not_answer() -> None:
    config = ServiceConfig(prometheus=f"http://127.0.0.1:{_closed_port()}",
                           alertmanager=f"http://127.0.0.1:{_closed_port()}")
    with TestClient(create_app(config, platform_slos())) as client:
        r = client.post(API, json={"duration": "1h", "reason": "r"})
        assert r.status_code == 503 and "the silence was not created" in r.json()["error"]
        assert client.get(API).json()["windows"] == []
