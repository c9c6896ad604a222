"""The one client of a Loki HTTP API: push log lines, and query them with LogQL.

It speaks Loki's own API (``POST /loki/api/v1/push`` in its JSON form, ``GET /loki/api/v1/query_range``)
so that the shipper, the runbook diagnoses and the tests work against any Loki. The helpers build the
LogQL that they need — a stream selector, line filters and ``| json`` label filters — with every
value escaped, never pasted in.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from foundation.http import HttpClient

READ_TIMEOUT_S = 10.0
PUSH_TIMEOUT_S = 5.0


class LokiError(RuntimeError):
    status: int | None = None


class LokiUnavailable(LokiError):
    def __init__(self, url: str, message: str) -> None:
        self.url = url
        self.reason = message
        super().__init__(f"loki at {url}: {message}")


class LokiRefused(LokiError):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class LogLine:
    ts_ns: int
    labels: dict[str, str]
    line: str

    @property
    def ts(self) -> float:
        return self.ts_ns / 1e9

    def fields(self) -> dict[str, Any]:
        """The line's JSON fields ({} for a line that is not a JSON object)."""
        try:
            doc = json.loads(self.line)
        except ValueError:
            return {}
        return doc if isinstance(doc, dict) else {}


def quote(value: str) -> str:
    """A LogQL string literal (Go's escaping, which JSON's is a subset of)."""
    return json.dumps(value)


def selector(**labels: str) -> str:
    """``{job="engine-node", pod="sales-c1-n1"}``; a value starting with ``~`` is a regex match."""
    if not labels:
        raise ValueError("a LogQL stream selector needs at least one label")
    parts = [f"{k}=~{quote(v[1:])}" if v.startswith("~") else f"{k}={quote(v)}" for k, v in labels.items()]
    return "{" + ", ".join(parts) + "}"


def logql(stream: Mapping[str, str], contains: Sequence[str] = (), **fields: str) -> str:
    """A stream selector, ``|= "text"`` line filters, then ``| json`` and ``| field="value"`` filters."""
    query = selector(**stream)
    query += "".join(f" |= {quote(text)}" for text in contains)
    if fields:
        query += " | json" + "".join(
            f" | {k}=~{quote(v[1:])}" if v.startswith("~") else f" | {k}={quote(v)}" for k, v in fields.items())
    return query


class LokiClient(HttpClient):
    def __init__(self, url: str, client: httpx.Client | None = None, timeout: float = READ_TIMEOUT_S) -> None:
        super().__init__(url, timeout, client, trust_env=False)

    def _unavailable(self, reason: str) -> Exception:
        return LokiUnavailable(self.url, reason)

    def _request(self, method: str, path: str, timeout: float, **kw: Any) -> httpx.Response:
        r = self._send(method, path, timeout=timeout, **kw)
        if r.status_code >= 400:
            raise LokiRefused(r.status_code, f"loki answered {r.status_code}: {r.text.strip()[:300]}")
        return r

    def ready(self) -> bool:
        try:
            return self._client.get(f"{self.url}/ready", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def push(self, streams: Iterable[tuple[Mapping[str, str], Sequence[tuple[int, str]]]]) -> None:
        """Lines per stream: (labels, [(timestamp ns, line), ...])."""
        body = {"streams": [{"stream": dict(labels), "values": [[str(ts), line] for ts, line in values]}
                            for labels, values in streams if values]}
        if body["streams"]:
            self._request("POST", "/loki/api/v1/push", PUSH_TIMEOUT_S, json=body)

    def query_range(self, query: str, *, since_s: float = 3600.0, end: float | None = None, limit: int = 100,
                    direction: str = "backward") -> list[LogLine]:
        """Lines matching ``query`` (LogQL) in the last ``since_s`` seconds, newest first by default."""
        end = time.time() if end is None else end
        params = {"query": query, "start": str(int((end - since_s) * 1e9)), "end": str(int(end * 1e9)),
                  "limit": str(limit), "direction": direction}
        data = self._request("GET", "/loki/api/v1/query_range", self.timeout, params=params).json()
        result = (data.get("data") or {}).get("result") or []
        lines = [LogLine(int(ts), dict(stream.get("stream") or {}), line)
                 for stream in result for ts, line in stream.get("values") or []]
        lines.sort(key=lambda x: x.ts_ns, reverse=direction == "backward")
        return lines[:limit]
