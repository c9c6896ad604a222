"""The gateway's HTTP face: ``POST /query`` as bare ASGI, everything else on Starlette.

``/query`` is the hot path. Starlette's middleware stack, Request and Response objects cost more per
request than all of the gateway's own routing (measured with a CPU profiler), so ``/query`` is
served straight from the ASGI scope; the admin API, ``/metrics`` and the probes, where convenience
matters more than microseconds, go through Starlette.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from engines.gateway import admin, reply
from engines.gateway.gateway import Gateway
from engines.gateway.query import MAX_BODY_BYTES
from exporters.contract import USER_ERROR_TYPES
from exporters.gateway_metrics import UNKNOWN_ENGINE
from foundation.logs import trace_id_of

_TRACE_HEADERS = {b"traceparent": "traceparent", b"tracestate": "tracestate"}
_JSON_HEADER = (b"content-type", reply.JSON.encode())
log = logging.getLogger("engines.gateway.query")


class GatewayApp:
    """The ASGI application of the gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.starlette = _starlette(gateway)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/query":
            if scope["method"] == "POST":
                await self._query(scope, receive, send)
            else:
                await JSONResponse({"error": "use POST"}, 405, {"allow": "POST"})(scope, receive, send)
        else:
            await self.starlette(scope, receive, send)

    async def _query(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        declared = 0
        trace_headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = int(value) if value.isdigit() else 0
            elif name in _TRACE_HEADERS:
                trace_headers[_TRACE_HEADERS[name]] = value.decode("latin-1")
        # Refuse by Content-Length before reading a byte, and by the actual size for chunked bodies
        # or a Content-Length that lies.
        body = None if declared > MAX_BODY_BYTES else await _read_body(receive)
        if body is None:
            rep = reply.gateway_error(413, "too_large", f"request body exceeds {MAX_BODY_BYTES} bytes")
            self.gateway.observe(UNKNOWN_ENGINE, rep, started)
        else:
            rep = await self.gateway.handle_query(body, trace_headers, started)
        if rep.error_type is not None and rep.error_type not in USER_ERROR_TYPES:
            # Platform failures only, with the ids that lead to the node's lines and its query history.
            query_id = rep.headers.get("x-query-id")
            log.warning("query %s failed: %s (HTTP %d after %s attempt(s))", query_id, rep.error_type, rep.status,
                        rep.headers.get("x-attempts", "0"),
                        extra={"query_id": query_id, "trace_id": trace_id_of(trace_headers.get("traceparent")),
                               "error_type": rep.error_type, "pod": rep.headers.get("x-engine-pod")})
        headers: list[tuple[bytes, bytes]] = [_JSON_HEADER,
                                              (b"content-length", str(len(rep.body)).encode())]
        headers.extend((k.encode(), v.encode("latin-1")) for k, v in rep.headers.items())
        await send({"type": "http.response.start", "status": rep.status, "headers": headers})
        await send({"type": "http.response.body", "body": rep.body})


async def _read_body(receive: Receive) -> bytes | None:
    """The request body, or None when it exceeds the limit (or the client went away)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _starlette(gateway: Gateway) -> Starlette:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        # Ready once a topology is loaded: before that every query would be a 404.
        return JSONResponse({"ready": gateway.ready, "revision": gateway.registry.revision},
                            200 if gateway.ready else 503)

    async def metrics(request: Request) -> Response:
        body, content_type = gateway.metrics.exposition(request.headers.get("accept"))
        return Response(body, headers={"content-type": content_type})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *admin.routes(gateway),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def create_app(gateway: Gateway) -> GatewayApp:
    return GatewayApp(gateway)
