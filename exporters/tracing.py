"""OpenTelemetry tracing for our processes, configured only through the standard ``OTEL_*`` variables.

Tracing is opt-in: unless an OTLP destination is configured, nothing is installed and the API stays
the no-op default, so instrumented hot paths (every query) cost next to nothing. When it is
configured, spans go through a BatchSpanProcessor (export never blocks a query) to the standard OTLP
exporter, gRPC by default or HTTP/protobuf when ``OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL`` asks for it.
Endpoint, TLS, headers, timeouts and batching stay with the exporter's own variables.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, MutableMapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context

log = logging.getLogger(__name__)

_lock = threading.Lock()
_provider: Any = None  # the SDK TracerProvider we installed; Any keeps the SDK import lazy

_GRPC = "grpc"
_HTTP_PROTOBUF = "http/protobuf"


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def tracing_configured() -> bool:
    """True when the standard variables ask for OTLP trace export (and the SDK is not disabled)."""
    if _env("OTEL_SDK_DISABLED").lower() == "true":
        return False
    exporters = {e.strip().lower() for e in _env("OTEL_TRACES_EXPORTER").split(",") if e.strip()}
    if "none" in exporters:
        return False
    if exporters & {"otlp", "otlp_proto_grpc", "otlp_proto_http"}:
        return True
    return bool(_env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or _env("OTEL_EXPORTER_OTLP_ENDPOINT"))


def _protocol() -> str:
    # The signal-specific variable wins over the general one, as the OTLP exporter spec says.
    chosen = (_env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or _env("OTEL_EXPORTER_OTLP_PROTOCOL")).lower()
    if not chosen:
        # The exporter name can carry the protocol too (OTEL_TRACES_EXPORTER=otlp_proto_http).
        chosen = _HTTP_PROTOBUF if "otlp_proto_http" in _env("OTEL_TRACES_EXPORTER").lower() else _GRPC
    return chosen


def _exporter(protocol: str) -> Any:
    # Imported here: processes without tracing never pay for grpc/protobuf imports.
    if protocol == _GRPC:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

        return Grpc()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

    return Http()


def setup_tracing(service_name: str, resource_attrs: Mapping[str, Any] | None = None) -> None:
    """Install an SDK TracerProvider exporting over OTLP, if and only if the environment asks for it.

    Idempotent: a second call keeps the provider of the first (OpenTelemetry forbids replacing it).
    A misconfiguration (unknown protocol) is logged and leaves tracing off: a typo in observability
    settings must not stop an engine node from serving queries.
    """
    global _provider
    if not tracing_configured():
        return
    protocol = _protocol()
    if protocol not in (_GRPC, _HTTP_PROTOBUF):
        log.warning("tracing off: OTLP protocol %r is not supported (use grpc or http/protobuf)", protocol)
        return
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    with _lock:
        if _provider is not None:
            return
        # Our attributes win over OTEL_RESOURCE_ATTRIBUTES (SDK merge order); service.name is ours.
        resource = Resource.create({**(resource_attrs or {}), SERVICE_NAME: service_name})
        # shutdown_on_exit=False: shutdown_tracing() is the one place that flushes, exactly once.
        provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        provider.add_span_processor(BatchSpanProcessor(_exporter(protocol)))
        trace.set_tracer_provider(provider)
        _provider = provider


def get_tracer(name: str) -> trace.Tracer:
    """A tracer from the global provider; a no-op tracer until (and unless) tracing is set up."""
    return trace.get_tracer(name)


def shutdown_tracing(flush_timeout_s: float = 5.0) -> None:
    """Export the spans still queued and stop the exporter; safe to call more than once.

    Called at process exit and on the SIGTERM drain path, so the spans of the last queries are not
    lost. The flush is bounded; the exporter's own timeout (OTEL_EXPORTER_OTLP_TIMEOUT) bounds shutdown.
    """
    global _provider
    with _lock:
        provider, _provider = _provider, None
    if provider is None:
        return
    provider.force_flush(int(flush_timeout_s * 1000))
    provider.shutdown()


def current_trace_id() -> str | None:
    """The hex trace id of the current recording span (for exemplars), else None."""
    span = trace.get_current_span()
    if not span.is_recording():
        return None
    ctx = span.get_span_context()
    return trace.format_trace_id(ctx.trace_id) if ctx.is_valid else None


def extract_context(headers: Mapping[str, str]) -> Context:
    """The context carried by incoming W3C ``traceparent``/``tracestate`` headers (any header case)."""
    # HTTP header names are case-insensitive, the default getter is not.
    return propagate.extract({k.lower(): v for k, v in headers.items()})


def inject_headers(headers: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Add the current context's ``traceparent`` (and ``tracestate``) to ``headers``; returns them."""
    carrier: MutableMapping[str, str] = {} if headers is None else headers
    propagate.inject(carrier)
    return carrier
