"""The fleet's query history and kill switch, behind the admin token: every node asked, answers merged.

``GET /admin/queries?engine=E&running=1&slowest=N&failed=1&limit=N`` asks every node of the engine
(every cluster, active or not: a drained cluster's history still explains its failures) for its
``/queries`` or ``/queries/running`` and merges the answers; ``POST /admin/queries/{id}/kill`` asks
every node to cancel the query and reports the outcome the node recorded. Nodes that do not answer
are listed, never silently dropped: a partial history must say that it is partial.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engines.gateway.gateway import Gateway
from engines.gateway.registry import UnknownEngine
from engines.gateway.upstream import Upstream

Endpoint = Callable[[Request], Awaitable[Response]]
Record = dict[str, Any]

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
#: A node's history answer is in memory; a kill waits up to 5 s on the node for the query to end.
READ_TIMEOUT_S = 5.0
KILL_TIMEOUT_S = 10.0
_FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False, "": False}
_PARAMS = ("engine", "running", "slowest", "failed", "limit")


class BadQuery(ValueError):
    """Parameters the admin API refuses (400)."""


def merge_finished(answers: Iterable[Sequence[Record]], *, limit: int = DEFAULT_LIMIT,
                   slowest: int | None = None) -> list[Record]:
    """Finished records of many nodes as one history: newest first, or the ``slowest`` N longest."""
    records = [r for answer in answers for r in answer]
    if slowest is not None:
        return sorted(records, key=lambda r: float(r.get("duration_s") or 0.0), reverse=True)[:slowest]
    # Start time first; the node's completion order breaks ties between records of one node.
    records.sort(key=lambda r: (float(r.get("started_at") or 0.0), int(r.get("seq") or 0)), reverse=True)
    return records[:limit]


def merge_running(answers: Iterable[Sequence[Record]]) -> list[Record]:
    """Live queries of many nodes, longest-running first."""
    records = [r for answer in answers for r in answer]
    return sorted(records, key=lambda r: float(r.get("running_s") or 0.0), reverse=True)


def parse_params(params: Mapping[str, str]) -> tuple[str | None, bool, int | None, bool, int]:
    """engine, running, slowest, failed, limit — or BadQuery with what is wrong."""
    unknown = sorted(set(params) - set(_PARAMS))
    if unknown:
        raise BadQuery(f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(_PARAMS)}")
    running, failed = _flag(params, "running"), _flag(params, "failed")
    slowest = _count(params, "slowest")
    limit = _count(params, "limit") or DEFAULT_LIMIT
    if running and (slowest is not None or failed):
        raise BadQuery("running lists live queries; slowest and failed select finished ones: use one or the other")
    return params.get("engine") or None, running, slowest, failed, limit


def _flag(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name, "").lower()
    if value not in _FLAGS:
        raise BadQuery(f"{name} must be 1 or 0, got {value!r}")
    return _FLAGS[value]


def _count(params: Mapping[str, str], name: str) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadQuery(f"{name} must be a whole number from 1 to {MAX_LIMIT}, got {text!r}")
    return int(text)


def _upstreams(gateway: Gateway, engine: str | None) -> list[Upstream]:
    if engine is None:
        return list(gateway.registry.upstreams())
    return list(gateway.registry.engine(engine).upstreams)  # UnknownEngine: 404


async def _ask(client: httpx.AsyncClient, upstream: Upstream, method: str, path: str,
               params: Mapping[str, str] | None = None) -> tuple[Upstream, httpx.Response | str]:
    try:
        return upstream, await client.request(method, f"{upstream.url}{path}", params=params)
    except httpx.HTTPError as exc:
        return upstream, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status)


def routes(gateway: Gateway, guard: Callable[[Endpoint], Endpoint]) -> list[Route]:
    async def list_queries(request: Request) -> Response:
        try:
            engine, running, slowest, failed, limit = parse_params(request.query_params)
            upstreams = _upstreams(gateway, engine)
        except BadQuery as exc:
            return _error(400, str(exc))
        except UnknownEngine as exc:
            return _error(404, str(exc))
        path = "/queries/running" if running else "/queries"
        params: dict[str, str] = {} if running else {"limit": str(limit)}
        if slowest is not None:
            params["slowest"] = str(slowest)
        if failed:
            params["status"] = "failed"
        async with httpx.AsyncClient(timeout=READ_TIMEOUT_S, trust_env=False) as client:
            answers = await asyncio.gather(*(_ask(client, u, "GET", path, params) for u in upstreams))
        found: list[list[Record]] = []
        errors: list[dict[str, str]] = []
        for upstream, answer in answers:
            if isinstance(answer, str) or answer.status_code != 200:
                why = answer if isinstance(answer, str) else f"HTTP {answer.status_code}: {answer.text[:200]}"
                errors.append({"pod": upstream.pod, "error": why})
            else:
                found.append(list(answer.json().get("queries", [])))
        merged = merge_running(found) if running else merge_finished(found, limit=limit, slowest=slowest)
        return JSONResponse({"engine": engine, "running": running, "queries": merged,
                             "nodes": len(upstreams), "errors": errors})

    async def kill(request: Request) -> Response:
        query_id = request.path_params["query_id"]
        token = gateway.config.node_admin_token
        if not token:
            return _error(503, "the gateway holds no node admin token (--node-token-file): it cannot cancel queries")
        engine = request.query_params.get("engine") or None
        try:
            upstreams = _upstreams(gateway, engine)
        except UnknownEngine as exc:
            return _error(404, str(exc))
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(timeout=KILL_TIMEOUT_S, trust_env=False, headers=headers) as client:
            answers = await asyncio.gather(*(_ask(client, u, "POST", f"/queries/{query_id}/cancel")
                                             for u in upstreams))
        killed: list[Record] = []
        finished: list[Record] = []
        pending: list[str] = []
        errors: list[dict[str, str]] = []
        for upstream, answer in answers:
            if isinstance(answer, str):
                errors.append({"pod": upstream.pod, "error": answer})
            elif answer.status_code in (200, 202):
                doc = answer.json()
                killed += doc.get("queries", [])
                if doc.get("still_running"):
                    pending.append(upstream.pod)
            elif answer.status_code == 409:
                finished += answer.json().get("queries", [])
            elif answer.status_code != 404:
                errors.append({"pod": upstream.pod, "error": f"HTTP {answer.status_code}: {answer.text[:200]}"})
        body = {"query_id": query_id, "killed": killed, "still_running": pending, "finished": finished,
                "nodes": len(upstreams), "errors": errors}
        if killed or pending:
            return JSONResponse(body, 202 if pending else 200)
        where = f"engine {engine!r}" if engine else "the fleet"
        if finished:
            statuses = ", ".join(sorted({str(r.get("status")) for r in finished}))
            return _error(409, f"query {query_id} already finished ({statuses}): nothing to kill", **body)
        return _error(404, f"no query {query_id} on any node of {where}", **body)

    return [
        Route("/admin/queries", guard(list_queries), methods=["GET"]),
        Route("/admin/queries/{query_id}/kill", guard(kill), methods=["POST"]),
    ]
