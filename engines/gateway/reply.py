"""The gateway's answer to ``POST /query``: body and headers that name where the query ran.

Every answer, success or error, names cluster, node, pod (null when no node was involved) and the
number of attempts, in the JSON and in ``X-Engine-Cluster`` / ``X-Engine-Node`` / ``X-Engine-Pod``
/ ``X-Attempts`` headers, so that a client, a load generator's ledger or an on-call engineer can
tell which pod served (or failed) any query.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from engines.gateway.attempt import AttemptResult
from engines.gateway.retry import is_retriable
from engines.gateway.upstream import Upstream

JSON = "application/json"


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    error_type: str | None = None  # None when the query succeeded

    @property
    def ok(self) -> bool:
        return self.error_type is None


def _headers(upstream: Upstream | None, attempts: int, query_id: str | None) -> dict[str, str]:
    headers = {"x-attempts": str(attempts)}
    if upstream is not None:
        headers["x-engine-cluster"] = upstream.cluster
        headers["x-engine-node"] = upstream.node
        headers["x-engine-pod"] = upstream.pod
    if query_id:
        headers["x-query-id"] = query_id
    return headers


def from_node(result: AttemptResult, attempts: int, query_id: str) -> Reply:
    """The node's answer (success or final error), with what the gateway adds."""
    u = result.upstream
    headers = _headers(u, attempts, query_id)
    if result.status < 300:
        return Reply(result.status, _with_attempts(result.body, attempts), headers)
    if result.retry_after:
        headers["retry-after"] = result.retry_after
    doc: dict[str, Any] = {"error": result.error, "error_type": result.error_type,
                           "retriable": is_retriable(result)}
    doc.update(engine=u.engine, cluster=u.cluster, node=u.node, pod=u.pod, attempts=attempts,
               query_id=query_id)
    return Reply(result.status, _dump(doc), headers, result.error_type or "internal")


def gateway_error(status: int, error_type: str, message: str, *, engine: str | None = None,
                  upstream: Upstream | None = None, attempts: int = 0, query_id: str | None = None,
                  retriable: bool = False) -> Reply:
    """An answer the gateway makes itself (no node answered, or none was asked)."""
    doc = {"error": message, "error_type": error_type, "retriable": retriable,
           "engine": engine, "cluster": upstream.cluster if upstream else None,
           "node": upstream.node if upstream else None, "pod": upstream.pod if upstream else None,
           "attempts": attempts, "query_id": query_id}
    return Reply(status, _dump(doc), _headers(upstream, attempts, query_id), error_type)


def _with_attempts(body: bytes, attempts: int) -> bytes:
    # Splice the field in rather than parse and re-serialise up to 1000 result rows per query:
    # that would cost more than the whole rest of the gateway's hot path.
    end = body.rstrip()
    if end.endswith(b"}") and not end[:-1].rstrip().endswith(b"{"):
        return b'%s,"attempts":%d}' % (end[:-1], attempts)
    try:
        doc = json.loads(body)
    except ValueError:
        doc = {"result": body.decode(errors="replace")}
    if not isinstance(doc, dict):
        doc = {"result": doc}
    doc["attempts"] = attempts
    return _dump(doc)


def _dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()
