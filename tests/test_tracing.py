"""Tracing: spans reach a real OTLP/gRPC receiver with their parent links; unconfigured means no-op.

Each case runs in a fresh interpreter, because OpenTelemetry's global provider can be set once only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from exporters import tracing
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan

TRACED = textwrap.dedent("""
    import json
    from exporters import (current_trace_id, extract_context, get_tracer, inject_headers,
                           setup_tracing, shutdown_tracing)

    setup_tracing("engine-node", {"engine": "sales", "pod": "sales-c1-n1"})
    tracer = get_tracer("test")
    with tracer.start_as_current_span("gateway.query", attributes={"engine": "sales"}):
        headers = inject_headers({})
        with tracer.start_as_current_span("node.query") as span:
            span.set_attribute("db.operation.name", "SELECT")
            with tracer.start_as_current_span("duckdb.execute"):
                trace_id = current_trace_id()
    # A second process would do this with the headers it received: continue the same trace.
    with tracer.start_as_current_span("remote.child", context=extract_context(
            {k.title(): v for k, v in headers.items()})):
        pass
    shutdown_tracing()
    shutdown_tracing()  # idempotent
    print(json.dumps({"trace_id": trace_id, "headers": headers}))
""")

UNTRACED = textwrap.dedent("""
    import json, sys
    from opentelemetry import trace
    from exporters import current_trace_id, get_tracer, inject_headers, setup_tracing, shutdown_tracing

    setup_tracing("engine-node")
    with get_tracer("test").start_as_current_span("q"):
        tid = current_trace_id()
        headers = inject_headers()
    shutdown_tracing()
    print(json.dumps({
        "provider": type(trace.get_tracer_provider()).__name__,
        "trace_id": tid,
        "headers": headers,
        "sdk_imported": "opentelemetry.sdk.trace" in sys.modules,
    }))
""")


def _run(script: str, **env: str) -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run([sys.executable, "-c", script], env={**clean, **env}, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


def test_nested_spans_reach_the_receiver_with_parent_links(receiver: OtlpReceiver) -> None:
    result = _run(TRACED, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, OTEL_EXPORTER_OTLP_INSECURE="true")

    # shutdown_tracing flushed before exit: everything is there without waiting for a batch timer.
    spans = receiver.wait_for(lambda s: len(s) >= 4, timeout=5)
    by_name: dict[str, ReceivedSpan] = {s.name: s for s in spans}
    root, node, core, remote = (by_name[n] for n in ("gateway.query", "node.query", "duckdb.execute",
                                                     "remote.child"))
    assert root.parent_span_id is None
    assert node.parent_span_id == root.span_id
    assert core.parent_span_id == node.span_id
    assert remote.parent_span_id == root.span_id  # continued from the propagated traceparent
    assert {s.trace_id for s in spans} == {root.trace_id} == {result["trace_id"]}
    assert result["headers"]["traceparent"].split("-")[1:3] == [root.trace_id, root.span_id]

    assert root.service_name == "engine-node"
    assert root.resource["engine"] == "sales" and root.resource["pod"] == "sales-c1-n1"
    assert root.attributes == {"engine": "sales"}
    assert node.attributes["db.operation.name"] == "SELECT"


def test_unconfigured_setup_installs_nothing() -> None:
    result = _run(UNTRACED)
    assert result == {"provider": "ProxyTracerProvider", "trace_id": None, "headers": {},
                      "sdk_imported": False}


def test_sdk_disabled_wins_over_an_endpoint(receiver: OtlpReceiver) -> None:
    result = _run(UNTRACED, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, OTEL_SDK_DISABLED="true")
    assert result["provider"] == "ProxyTracerProvider"
    assert receiver.spans == []


@pytest.mark.parametrize(("env", "configured", "protocol"), [
    ({}, False, "grpc"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}, True, "grpc"),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces",
      "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, True, "http/protobuf"),
    ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
      "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, True, "grpc"),
    ({"OTEL_TRACES_EXPORTER": "otlp_proto_http"}, True, "http/protobuf"),
    ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}, False, "grpc"),
    ({"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp"}, False, "grpc"),
])
def test_configuration_follows_the_standard_variables(
        monkeypatch: pytest.MonkeyPatch, env: dict[str, str], configured: bool, protocol: str) -> None:
    for name in [k for k in os.environ if k.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert tracing.tracing_configured() is configured
    assert tracing._protocol() == protocol


def test_http_protobuf_selects_the_http_exporter() -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    exporter = tracing._exporter("http/protobuf")
    assert isinstance(exporter, OTLPSpanExporter)
    exporter.shutdown()
