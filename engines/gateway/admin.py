"""Admin API behind a bearer token: switch active clusters, drain pods, inspect upstreams, list and
kill queries across the fleet (engines.gateway.queries).

The orchestrator calls it for changes that must take effect now (a blue-green switch, a drain before
SIGTERM) rather than at the next topology reload; on-call uses ``GET /admin/upstreams``.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engines.gateway import queries
from engines.gateway.gateway import Gateway
from engines.gateway.registry import UnknownEngine, UnknownPod

Endpoint = Callable[[Request], Awaitable[Response]]


def _error(status: int, message: str) -> JSONResponse:
    headers = {"www-authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": message}, status, headers)


def _authorized(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # Constant-time comparison: the token must not leak one byte at a time through timing.
    return scheme.lower() == "bearer" and bool(token) and hmac.compare_digest(given.strip().encode(),
                                                                               token.encode())


def _guarded(gateway: Gateway, endpoint: Endpoint) -> Endpoint:
    async def guarded(request: Request) -> Response:
        if not _authorized(request, gateway.config.admin_token):
            return _error(401, "missing or wrong bearer token")
        return await endpoint(request)

    return guarded


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        doc = json.loads(await request.body())
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def routes(gateway: Gateway) -> list[Route]:
    registry = gateway.registry

    async def active_clusters(request: Request) -> Response:
        engine = request.path_params["engine"]
        doc = await _json_object(request)
        clusters = doc.get("clusters") if doc is not None else None
        if not isinstance(clusters, list) or not all(isinstance(c, str) for c in clusters):
            return _error(400, 'body must be {"clusters": [cluster names]}')
        try:
            previous = registry.set_active_clusters(engine, clusters)
        except UnknownEngine as exc:
            return _error(404, str(exc))
        except ValueError as exc:
            return _error(400, str(exc))
        view = registry.engines[engine]
        return JSONResponse({"engine": engine, "active_clusters": list(view.active_clusters),
                             "previous": list(previous), "revision": registry.revision})

    async def drain(request: Request) -> Response:
        pod = request.path_params["pod"]
        drained = request.method == "POST"  # DELETE undoes a drain
        try:
            ups = registry.set_drained(pod, drained)
        except UnknownPod as exc:
            return _error(404, str(exc))
        return JSONResponse({"pod": pod, "drained": drained,
                             "outstanding": sum(u.outstanding for u in ups)})

    async def upstreams(request: Request) -> Response:
        return JSONResponse(registry.describe())

    return [
        Route("/admin/engines/{engine}/active-clusters", _guarded(gateway, active_clusters),
              methods=["POST"]),
        Route("/admin/pods/{pod}/drain", _guarded(gateway, drain), methods=["POST", "DELETE"]),
        Route("/admin/upstreams", _guarded(gateway, upstreams), methods=["GET"]),
        *queries.routes(gateway, lambda endpoint: _guarded(gateway, endpoint)),
    ]
