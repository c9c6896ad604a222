"""Structured logs for every process of the platform: one JSON object per line, with trace and query ids.

Every component (engine node, gateway, orchestrator, SLO service) logs through :func:`setup_logging`, so
a log line anywhere carries the same fields: ``ts`` (RFC 3339, UTC), ``level``, ``component``,
``logger``, ``msg``, the component's static identity (engine, cluster, node, pod for a node), and —
when known — ``trace_id``, ``span_id`` and ``query_id``. Ids come from the record's ``extra``, else
from :func:`log_context` (a context variable, so concurrent asyncio tasks keep their own), else the
trace id from the current OpenTelemetry span. That is what lets a trace id found in an exemplar or
in the query history lead to the log lines of the same query (see foundation/loki.py).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from typing import IO, Any

from opentelemetry import trace

#: Fields a log call may pass in ``extra`` that become top-level JSON fields.
EXTRA_FIELDS: tuple[str, ...] = (
    "query_id", "trace_id", "span_id", "error_type", "kind", "engine", "cluster", "node", "pod", "status",
    "duration_s", "attempts",
)
_context: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar("enginewatch_log_context",
                                                                                    default=None)
# uvicorn's loggers: routed to our handler rather than uvicorn's own plain-text one.
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


@contextlib.contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Fields (``query_id=...``) added to every line logged inside the block, in this task or thread."""
    token = _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _context.reset(token)


class JsonFormatter(logging.Formatter):
    def __init__(self, component: str, static: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.component = component
        self.static = dict(static or {})

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        doc: dict[str, Any] = {
            "ts": ts.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(), "component": self.component, "logger": record.name,
            "msg": record.getMessage(), **self.static, **(_context.get() or {}),
        }
        for name in EXTRA_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                doc[name] = value
        if "trace_id" not in doc:
            span = trace.get_current_span().get_span_context()
            if span.is_valid:
                doc["trace_id"] = trace.format_trace_id(span.trace_id)
                doc["span_id"] = trace.format_span_id(span.span_id)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, separators=(",", ":"), default=str)


def json_handler(component: str, stream: IO[str] | None = None, **static: str) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(component, static))
    return handler


def setup_logging(component: str, level: int | str = logging.INFO, stream: IO[str] | None = None,
                  **static: str) -> logging.Handler:
    """Make the root logger (and uvicorn's) write JSON lines to ``stream`` (stderr); returns the handler."""
    handler = json_handler(component, stream, **static)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    adopt_server_loggers()
    return handler


def adopt_server_loggers() -> None:
    """Send uvicorn's loggers through the root handler (call after uvicorn configured its own)."""
    for name in _SERVER_LOGGERS:
        server_log = logging.getLogger(name)
        server_log.handlers.clear()
        server_log.propagate = True


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a W3C ``traceparent`` header (``00-<trace id>-<span id>-<flags>``), if well formed."""
    parts = (traceparent or "").split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and parts[1] != "0" * 32:
        try:
            int(parts[1], 16)
        except ValueError:
            return None
        return parts[1].lower()
    return None
