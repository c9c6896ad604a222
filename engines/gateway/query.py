"""The client's request to ``POST /query``: parsed and validated before any node is bothered."""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any

from exporters.contract import QUERY_KINDS

MAX_BODY_BYTES = 1 << 20
_MAX_ID_CHARS = 200
_PRINTABLE_ID = re.compile(rf"[\x20-\x7e]{{1,{_MAX_ID_CHARS}}}")


class BadRequest(ValueError):
    """A malformed request: the client's fault, answered 400 and never sent to a node."""


@dataclass(slots=True)
class QueryRequest:
    engine: str
    sql: str
    kind: str | None
    idempotency_key: str | None
    deadline_s: float
    query_id: str

    def node_payload(self) -> dict[str, Any]:
        """What the node's ``POST /query`` takes (the attempt adds ``timeout_s``)."""
        payload: dict[str, Any] = {"sql": self.sql, "query_id": self.query_id}
        if self.kind is not None:
            payload["kind"] = self.kind
        return payload


def parse_query(body: bytes, default_deadline_s: float) -> QueryRequest:
    """Validate the body; the client's deadline may shorten the gateway's, never extend it."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise BadRequest(f"body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BadRequest("body must be a JSON object")
    engine = doc.get("engine")
    sql = doc.get("sql")
    if not isinstance(engine, str) or not engine:
        raise BadRequest('"engine" must be a non-empty string')
    if not isinstance(sql, str) or not sql.strip():
        raise BadRequest('"sql" must be a non-empty string')
    kind = doc.get("kind")
    if kind is not None and not isinstance(kind, str):
        raise BadRequest('"kind" must be a string')
    if kind not in QUERY_KINDS:
        kind = None  # an unknown hint is dropped: the node classifies the statement itself
    deadline = doc.get("deadline_s")
    if deadline is None:
        deadline_s = default_deadline_s
    elif isinstance(deadline, bool) or not isinstance(deadline, int | float) \
            or not math.isfinite(deadline) or deadline <= 0:
        raise BadRequest('"deadline_s" must be a positive number of seconds')
    else:
        deadline_s = min(float(deadline), default_deadline_s)
    return QueryRequest(engine=engine, sql=sql, kind=kind,
                        idempotency_key=_optional_id(doc, "idempotency_key"),
                        deadline_s=deadline_s,
                        query_id=_optional_id(doc, "query_id") or uuid.uuid4().hex)


def _optional_id(doc: dict[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    # Printable ASCII only: the query id travels back in a response header (X-Query-Id), where a
    # CR or LF from the client would be header injection.
    if not isinstance(value, str) or not _PRINTABLE_ID.fullmatch(value):
        raise BadRequest(f'"{name}" must be 1 to {_MAX_ID_CHARS} printable ASCII characters')
    return value
