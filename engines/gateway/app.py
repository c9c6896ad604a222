"""The gateway's HTTP face: a plain Starlette app over ``Gateway``.

Starlette rather than FastAPI on purpose: ``/query`` is the hot path, and dependency injection and
model validation would add more per request than the whole of our own routing does.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engines.gateway import admin, reply
from engines.gateway.gateway import Gateway
from engines.gateway.query import MAX_BODY_BYTES
from exporters.gateway_metrics import UNKNOWN_ENGINE


def create_app(gateway: Gateway) -> Starlette:
    async def query(request: Request) -> Response:
        started = time.perf_counter()
        body = await _read_limited(request)
        if body is None:
            rep = reply.gateway_error(413, "too_large", f"request body exceeds {MAX_BODY_BYTES} bytes")
            gateway.observe(UNKNOWN_ENGINE, rep, started)
        else:
            rep = await gateway.handle_query(body, request.headers, started)
        return Response(rep.body, rep.status, rep.headers, media_type=reply.JSON)

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
        Route("/query", query, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *admin.routes(gateway),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


async def _read_limited(request: Request) -> bytes | None:
    """The body, or None when it is larger than allowed, by its Content-Length or its actual size
    (a chunked body has no Content-Length, and a client may lie in it)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
