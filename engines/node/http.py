"""The node's HTTP API (Starlette): /query, /healthz, /readyz, /status, /metrics, /queries, and the admin API.

Maps the query service's outcomes to status codes and the JSON of docs/architecture.md. Every query
response names the engine, cluster, node and pod that answered. The admin API
(``/admin/faults/storage-latency``, ``POST /queries/{id}/cancel``) takes the bearer token of
``--admin-token-file``, which only the orchestrator and the gateway hold; without a token it does not
exist. Reading the query history is open, as /status is: whoever reaches the node can run queries on it
anyway, while a kill acts on someone else's query.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import os
import time
from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engines.node.config import NodeConfig
from engines.node.history import FAILED, FINISHED_STATUSES
from engines.node.service import Outcome, QueryService
from exporters.tracing import extract_context

MAX_BODY_BYTES = 1024 * 1024
RETRY_AFTER_S = "1"
#: How long ``POST /queries/{id}/cancel`` waits for the query to end before answering 202.
CANCEL_WAIT_S = 5.0
MAX_HISTORY_ROWS = 10_000

#: HTTP status of each error type the node answers.
STATUS_BY_ERROR: dict[str, int] = {
    "invalid_sql": 400, "too_large": 413, "unavailable": 503, "overloaded": 503, "timeout": 504,
    "oom": 500, "canceled": 500, "internal": 500,
}
#: Errors after which the same statement may succeed elsewhere: the node refused it, or gave up on it.
RETRIABLE: frozenset[str] = frozenset({"unavailable", "overloaded", "canceled"})

_JSON = "application/json"


class _BodyTooLarge(Exception):
    pass


def _json(payload: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")), status, headers, _JSON)


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _BodyTooLarge  # refuse before reading a byte of it
    # Content-Length can be absent (chunked) or lie: count what actually arrives.
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _disconnected(request: Request) -> None:
    """Returns when the client closes the connection. The body is read by then, so the server's next
    ASGI message is the disconnect (uvicorn sends it at once when the peer goes away)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _parse(body: bytes) -> tuple[str, str | None, float | None, str | None]:
    """sql, kind, timeout_s, query_id — or ValueError with what is wrong, for a 400."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise ValueError("body must be a JSON object")
    sql = payload.get("sql")
    if not isinstance(sql, str) or not sql.strip():
        raise ValueError('"sql" (a non-empty string) is required')
    kind, query_id, timeout_s = payload.get("kind"), payload.get("query_id"), payload.get("timeout_s")
    if kind is not None and not isinstance(kind, str):
        raise ValueError('"kind" must be a string')
    if query_id is not None and not isinstance(query_id, str):
        raise ValueError('"query_id" must be a string')
    if timeout_s is not None and (isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float)
                                  or timeout_s <= 0):
        raise ValueError('"timeout_s" must be a positive number')
    return sql, kind, float(timeout_s) if timeout_s is not None else None, query_id


def history_filters(params: Mapping[str, str]) -> tuple[str | None, int, int | None]:
    """status, limit, slowest of ``GET /queries`` — or ValueError saying what is wrong, for a 400."""
    unknown = sorted(set(params) - {"status", "limit", "slowest"})
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; known: status, limit, slowest")
    status = params.get("status") or None
    allowed = (*FINISHED_STATUSES, FAILED)
    if status is not None and status not in allowed:
        raise ValueError(f"status must be one of {', '.join(allowed)}, got {status!r}")
    limit = _bounded_int(params.get("limit"), "limit", 100)
    slowest = _bounded_int(params.get("slowest"), "slowest", None)
    return status, limit if limit is not None else 100, slowest


def _bounded_int(text: str | None, name: str, default: int | None) -> int | None:
    if text is None or text == "":
        return default
    if not text.isdigit() or not 1 <= int(text) <= MAX_HISTORY_ROWS:
        raise ValueError(f"{name} must be a whole number from 1 to {MAX_HISTORY_ROWS}, got {text!r}")
    return int(text)


def build_app(service: QueryService, config: NodeConfig) -> Starlette:
    identity = config.identity.as_fields()
    started = time.monotonic()

    def error(error_type: str, message: str, query_id: str | None = None, retriable: bool | None = None) -> Response:
        payload: dict[str, Any] = {"error": message, "error_type": error_type,
                                   "retriable": error_type in RETRIABLE if retriable is None else retriable,
                                   **identity}
        if query_id is not None:
            payload["query_id"] = query_id
        status = STATUS_BY_ERROR.get(error_type, 500)
        return _json(payload, status, {"Retry-After": RETRY_AFTER_S} if status == 503 else None)

    def answer(outcome: Outcome, query_id: str | None) -> Response:
        result = outcome.result
        if result is None:
            return error(outcome.error_type or "internal", outcome.error or "", query_id, outcome.retriable)
        meta: dict[str, Any] = {"columns": result.columns, "row_count": result.row_count,
                                "elapsed_s": round(outcome.elapsed_s, 6), "queue_s": round(outcome.queue_s, 6),
                                **identity}
        if query_id is not None:
            meta["query_id"] = query_id
        # The rows were encoded on the query's worker thread; splice them in rather than re-encode.
        body = f'{json.dumps(meta, separators=(",", ":"))[:-1]},"rows":{result.rows_json}}}'
        return Response(body, 200, media_type=_JSON)

    async def query(request: Request) -> Response:
        headers = request.headers
        parent = extract_context(headers) if "traceparent" in headers else None
        try:
            body = await _read_body(request)
        except _BodyTooLarge:
            service.reject("too_large", parent)
            return error("too_large", f"request body exceeds {MAX_BODY_BYTES} bytes")
        try:
            sql, kind, timeout_s, query_id = _parse(body)
        except ValueError as exc:
            service.reject("invalid_sql", parent)
            return error("invalid_sql", f"malformed request: {exc}")
        outcome = await service.execute(sql, kind, timeout_s, parent, query_id, client_gone=_disconnected(request))
        return answer(outcome, query_id)

    async def healthz(request: Request) -> Response:
        return _json({"state": service.lifecycle.state, **identity})

    async def readyz(request: Request) -> Response:
        lifecycle = service.lifecycle
        return _json({"state": lifecycle.state, **identity}, 200 if lifecycle.ready else 503)

    async def status(request: Request) -> Response:
        admission, node_type = service.admission, config.node_type
        return _json({
            "state": service.lifecycle.state, "running": admission.running, "queued": admission.queued,
            "slots": admission.slots, "queue_capacity": admission.queue_capacity, "type": node_type.name,
            "memory_limit_bytes": node_type.memory_limit_bytes, "query_timeout_s": service.query_timeout_s,
            "grace_s": config.grace_s, "drain": config.drain, "version": config.identity.version,
            "pid": os.getpid(), "uptime_s": round(time.monotonic() - started, 3), **identity,
        })

    async def metrics(request: Request) -> Response:
        body, content_type = service.metrics.render(request.headers.get("accept"))
        return Response(body, 200, headers={"Content-Type": content_type})

    def refused(request: Request) -> Response | None:
        """The admin API's answer to a request without the right token; None lets it through."""
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        token = config.admin_token
        if token is None:
            return _json({"error": "the admin API is off (no --admin-token-file)"}, 404)
        # Constant-time comparison: the token must not leak one byte at a time through timing.
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            return _json({"error": "missing or wrong bearer token"}, 401, {"www-authenticate": "Bearer"})
        return None

    async def queries(request: Request) -> Response:
        try:
            status_filter, limit, slowest = history_filters(request.query_params)
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        records = service.history.recent(status_filter, limit, slowest)
        return _json({"queries": [r.to_dict() for r in records], **identity})

    async def running(request: Request) -> Response:
        now = time.perf_counter()
        return _json({"queries": [{**q.to_dict(now), **identity} for q in service.history.running()],
                      **identity})

    async def cancel(request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        query_id = request.path_params["query_id"]
        found = service.kill(query_id)
        if not found:
            done = service.history.find(query_id)
            if done:
                return _json({"error": f"query {query_id} already finished ({done[-1].status})",
                              "query_id": query_id, "queries": [r.to_dict() for r in done], **identity}, 409)
            return _json({"error": f"no query {query_id} on this node", "query_id": query_id, **identity}, 404)
        # Answer once the kill took effect, so the caller reads the outcome rather than a promise.
        deadline = time.monotonic() + CANCEL_WAIT_S
        while service.history.live(query_id) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        pending = len(service.history.live(query_id))
        ended = len(found) - pending
        records = service.history.find(query_id)[-ended:] if ended else []  # the newest: those just killed
        return _json({"query_id": query_id, "canceled": ended, "still_running": pending,
                      "queries": [r.to_dict() for r in records], **identity}, 202 if pending else 200)

    async def storage_latency(request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        faults, core = service.core.faults, service.core
        if request.method == "GET":
            return _json({**faults.snapshot(), **identity})
        try:
            seconds = json.loads(await request.body()).get("seconds")
        except (ValueError, AttributeError):
            seconds = None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds) \
                or not 0 <= seconds <= 60:
            return _json({"error": 'body must be {"seconds": a number in [0, 60]}'}, 400)
        # Timed reads before and after, through the same delay as queries: the proof that it acts.
        before = await asyncio.to_thread(core.probe_storage_read)
        faults.set_latency(float(seconds))
        after = await asyncio.to_thread(core.probe_storage_read)
        return _json({**faults.snapshot(), "read_before_s": round(before, 6), "read_after_s": round(after, 6),
                      **identity})

    async def crashed(request: Request, exc: Exception) -> Response:
        # A bug of ours still gets the contract's answer (and Starlette logs the traceback).
        return error("internal", f"{type(exc).__name__}: {exc}")

    return Starlette(exception_handlers={Exception: crashed}, routes=[
        Route("/query", query, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/status", status, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/admin/faults/storage-latency", storage_latency, methods=["GET", "POST"]),
        Route("/queries", queries, methods=["GET"]),
        Route("/queries/running", running, methods=["GET"]),
        Route("/queries/{query_id}/cancel", cancel, methods=["POST"]),
    ])
