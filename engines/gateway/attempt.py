"""One attempt: a query sent to one node, and what came of it.

An attempt ends in exactly one ``Outcome``. The retry policy decides from it alone whether another
node may be tried, so every way an attempt can end must land here, including the gateway pulling
it back because the health check ejected the node while it was in flight (a hung node).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from engines.gateway.upstream import InFlight, Upstream
from engines.gateway.wire import Pool, RawResponse, UpstreamGone
from exporters.contract import ERROR_TYPES


class Outcome(StrEnum):
    ANSWERED = "answered"  # the node answered 2xx or 4xx: the node works
    NODE_ERROR = "node_error"  # the node answered 5xx
    REFUSED = "refused"  # connection refused, reset or closed: the node is gone
    ABANDONED = "abandoned"  # the health check ejected the node while we waited for it
    DEADLINE = "deadline"  # the client's deadline passed during the attempt


#: gateway_upstream_requests_total{outcome}: how the attempt looked from the wire.
UPSTREAM_OUTCOME: dict[Outcome, str] = {
    Outcome.ANSWERED: "ok",
    Outcome.NODE_ERROR: "error",
    Outcome.REFUSED: "refused",
    Outcome.ABANDONED: "timeout",
    Outcome.DEADLINE: "timeout",
}


@dataclass(slots=True)
class AttemptResult:
    upstream: Upstream
    outcome: Outcome
    status: int = 0  # the node's HTTP status, 0 when it did not answer
    body: bytes = b""
    error_type: str | None = None  # contract error type when the node answered an error
    error: str = ""
    retry_after: str | None = None
    #: The node's own "retriable" when it answered an error; False for a query an operator killed.
    node_retriable: bool | None = None

    @property
    def answered(self) -> bool:
        return self.status != 0

    @property
    def breaker_verdict(self) -> bool | None:
        """True: the node works; False: it failed; None: says nothing about the node.

        Abandoned says nothing new: the health check (or the outlier detector) ended the attempt and has
        taken the node out already; counted as failures, the dozens abandoned at once on a busy hung node
        would also open its breaker and keep it out, through a single half-open trial as long as a
        query, after it came back."""
        if self.outcome == Outcome.REFUSED:
            return False
        if self.outcome in (Outcome.DEADLINE, Outcome.ABANDONED):
            return None
        # 503 draining/overloaded, 500 canceled, 504 query timeout, oom: the node is doing its job.
        return not (self.outcome == Outcome.NODE_ERROR and self.error_type == "internal")


#: How much sooner than the gateway the node gives up on an attempt (at most half of its time).
NODE_TIMEOUT_MARGIN_S = 0.1


async def send(pool: Pool, upstream: Upstream, payload: dict[str, Any],
               headers: dict[str, str] | None, deadline: float) -> AttemptResult:
    """POST the query to ``upstream``, giving up at ``deadline`` (event-loop time)."""
    loop = asyncio.get_running_loop()
    remaining = deadline - loop.time()
    if remaining <= 0:
        return AttemptResult(upstream, Outcome.DEADLINE, error="deadline exceeded before the attempt")
    # The node stops working on the query when the client would no longer wait for it, a little
    # before: it then times out on its own and says so (its 504, error counter and log line) rather
    # than see the connection close at the deadline, which it takes for a client gone (canceled).
    payload["timeout_s"] = round(remaining - min(NODE_TIMEOUT_MARGIN_S, remaining / 2), 3)
    content = json.dumps(payload, separators=(",", ":")).encode()
    inflight = InFlight()
    upstream.begin(inflight)
    try:
        async with asyncio.timeout_at(deadline) as scope:
            inflight.scope = scope
            response = await pool.post(upstream.host, upstream.port, "/query", content, headers)
    except TimeoutError:
        if inflight.abandoned:
            return AttemptResult(upstream, Outcome.ABANDONED, error="node ejected as unresponsive")
        return AttemptResult(upstream, Outcome.DEADLINE, error="deadline exceeded")
    except UpstreamGone as exc:
        # Killed, crashed or restarting; on loopback even a connect timeout means nothing accepts.
        return AttemptResult(upstream, Outcome.REFUSED, error=str(exc))
    finally:
        upstream.end(inflight)
    return _classify(upstream, response)


def _classify(upstream: Upstream, response: RawResponse) -> AttemptResult:
    status = response.status
    body = response.body
    if status < 300:
        return AttemptResult(upstream, Outcome.ANSWERED, status, body)
    error_type, message, retriable = _error_of(body, status)
    outcome = Outcome.ANSWERED if status < 500 else Outcome.NODE_ERROR
    return AttemptResult(upstream, outcome, status, body, error_type, message,
                         response.header(b"retry-after"), retriable)


def _error_of(body: bytes, status: int) -> tuple[str, str, bool | None]:
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        doc = {}
    error_type = doc.get("error_type")
    if error_type not in ERROR_TYPES:
        # A node answer outside the contract is the platform's fault, except plain client errors.
        error_type = "invalid_sql" if status == 400 else "too_large" if status == 413 else "internal"
    retriable = doc.get("retriable")
    return (str(error_type), str(doc.get("error") or f"node answered HTTP {status}"),
            retriable if isinstance(retriable, bool) else None)
