"""``python -m enginewatch.logstore``: a log store that speaks the part of Loki's HTTP API we use.

Grafana Loki is the log store of the design, but no Loki build can be installed on these machines:
Debian's package ``loki`` is an unrelated program (genetic linkage analysis) and Grafana's Loki is not
served by the package registries here. So the local stack runs this stand-in, and everything else —
the shipper, foundation/loki.py, the runbook diagnoses, the tests — speaks Loki's API to it, so that a
real Loki drops in by its URL. What it implements, and nothing more:

- ``POST /loki/api/v1/push`` in the JSON form (``{"streams": [{"stream": {...}, "values": [[ns, line]]}]}``);
- ``GET /loki/api/v1/query_range`` and ``/query`` for log queries: a stream selector (``=``, ``!=``,
  ``=~``, ``!~``), line filters (``|=``, ``!=``, ``|~``, ``!~``), and ``| json`` followed by label
  filters on the extracted fields; anything else (metric queries, other parsers) is a 400 saying so;
- ``GET /loki/api/v1/labels``, ``/loki/api/v1/label/{name}/values``, ``/ready``.

Lines are held in memory, bounded per stream and in the number of streams: it is the local stack's
log store for the life of the stack, not an archive.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from foundation.logs import setup_logging
from foundation.process import bind_socket, write_atomic

MAX_LINES_PER_STREAM = 50_000
MAX_STREAMS = 2_000
MAX_LIMIT = 5_000
DEFAULT_SINCE_NS = 3600 * 10**9

StreamKey = tuple[tuple[str, str], ...]
Predicate = Callable[[str, dict[str, str]], bool]


class ParseError(ValueError):
    pass


# --- LogQL (the subset above) ------------------------------------------------------------------------

_TOKEN = re.compile(r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|`[^`]*`)|(?P<op>\|=|\|~|!=|!~|=~|=|\||\{|\}|,)'
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*))")


def _tokens(query: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    query = query.strip()
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if m is None or m.end() == pos:
            raise ParseError(f"unexpected {query[pos:pos + 20]!r} at position {pos}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _string(token: tuple[str, str]) -> str:
    kind, text = token
    if kind != "string":
        raise ParseError(f"expected a string, got {text!r}")
    return text[1:-1] if text.startswith("`") else str(json.loads(text))


def _compare(op: str, want: str) -> Callable[[str], bool]:
    if op in ("=~", "!~"):
        try:
            pattern = re.compile(want)
        except re.error as e:
            raise ParseError(f"bad regex {want!r}: {e}") from None
        # Loki's label regexes are anchored at both ends.
        return (lambda v: pattern.fullmatch(v) is not None) if op == "=~" else (lambda v: pattern.fullmatch(v) is None)
    return (lambda v: v == want) if op == "=" else (lambda v: v != want)


@dataclass
class LogQuery:
    matchers: list[tuple[str, Callable[[str], bool]]] = field(default_factory=list)
    line_filters: list[Callable[[str], bool]] = field(default_factory=list)
    json: bool = False
    field_filters: list[tuple[str, Callable[[str], bool]]] = field(default_factory=list)

    def selects(self, labels: dict[str, str]) -> bool:
        return all(test(labels.get(name, "")) for name, test in self.matchers)

    def keeps(self, line: str, labels: dict[str, str]) -> bool:
        if not all(test(line) for test in self.line_filters):
            return False
        if not self.field_filters:
            return True
        values = dict(labels)
        if self.json:
            try:
                doc = json.loads(line)
            except ValueError:
                doc = None
            if isinstance(doc, dict):
                values.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in doc.items()})
        return all(test(values.get(name, "")) for name, test in self.field_filters)


def parse(query: str) -> LogQuery:
    tokens = _tokens(query)
    q = LogQuery()
    if not tokens or tokens[0][1] != "{":
        raise ParseError("only log queries are supported: start with a stream selector {label=\"value\"}")
    i = 1
    while True:
        if i + 2 >= len(tokens) or tokens[i][0] != "name" or tokens[i + 1][1] not in ("=", "!=", "=~", "!~"):
            raise ParseError("a stream selector is {name=\"value\", ...} with =, !=, =~ or !~")
        q.matchers.append((tokens[i][1], _compare(tokens[i + 1][1], _string(tokens[i + 2]))))
        i += 3
        if i < len(tokens) and tokens[i][1] == ",":
            i += 1
            continue
        if i < len(tokens) and tokens[i][1] == "}":
            i += 1
            break
        raise ParseError("unclosed stream selector")
    if all(test("") for _, test in q.matchers):
        raise ParseError("queries require at least one matcher that does not match the empty string")
    while i < len(tokens):
        op = tokens[i][1]
        if op in ("|=", "!=", "|~", "!~") and i + 1 < len(tokens):
            want = _string(tokens[i + 1])
            if op in ("|~", "!~"):
                try:
                    pattern = re.compile(want)
                except re.error as e:
                    raise ParseError(f"bad regex {want!r}: {e}") from None
                found: Callable[[str], bool] = lambda line, p=pattern: p.search(line) is not None  # noqa: E731
            else:
                found = lambda line, w=want: w in line  # noqa: E731
            q.line_filters.append(found if op in ("|=", "|~") else (lambda line, f=found: not f(line)))
            i += 2
        elif op == "|" and i + 1 < len(tokens) and tokens[i + 1] == ("name", "json"):
            q.json = True
            i += 2
        elif op == "|" and i + 3 < len(tokens) and tokens[i + 1][0] == "name" \
                and tokens[i + 2][1] in ("=", "!=", "=~", "!~"):
            q.field_filters.append((tokens[i + 1][1], _compare(tokens[i + 2][1], _string(tokens[i + 3]))))
            i += 4
        else:
            raise ParseError(f"unsupported LogQL at {' '.join(t for _, t in tokens[i:i + 3])!r}: this store knows "
                             "line filters, | json and label filters")
    return q


# --- the store ---------------------------------------------------------------------------------------

class Store:
    def __init__(self, max_lines_per_stream: int = MAX_LINES_PER_STREAM, max_streams: int = MAX_STREAMS) -> None:
        self.max_lines = max_lines_per_stream
        self.max_streams = max_streams
        self.streams: dict[StreamKey, tuple[list[int], list[str]]] = {}

    def push(self, labels: dict[str, str], values: Sequence[tuple[int, str]]) -> None:
        key: StreamKey = tuple(sorted(labels.items()))
        if key not in self.streams:
            if len(self.streams) >= self.max_streams:
                raise ValueError(f"too many streams (limit {self.max_streams}): labels must be bounded")
            self.streams[key] = ([], [])
        stamps, lines = self.streams[key]
        for ts, line in values:
            at = bisect.bisect_right(stamps, ts)  # out-of-order writes land in order, as Loki 2.4+ accepts
            stamps.insert(at, ts)
            lines.insert(at, line)
        if len(stamps) > self.max_lines:
            del stamps[: len(stamps) - self.max_lines], lines[: len(lines) - self.max_lines]

    def query(self, q: LogQuery, start: int, end: int, limit: int, backward: bool) -> list[dict[str, Any]]:
        hits: list[tuple[int, StreamKey, str]] = []
        for key, (stamps, lines) in self.streams.items():
            labels = dict(key)
            if not q.selects(labels):
                continue
            lo, hi = bisect.bisect_left(stamps, start), bisect.bisect_left(stamps, end)
            hits += [(stamps[j], key, lines[j]) for j in range(lo, hi) if q.keeps(lines[j], labels)]
        hits.sort(key=lambda h: h[0], reverse=backward)
        grouped: dict[StreamKey, list[list[str]]] = {}
        for ts, key, line in hits[:limit]:
            grouped.setdefault(key, []).append([str(ts), line])
        return [{"stream": dict(key), "values": values} for key, values in grouped.items()]


def _error(status: int, message: str) -> Response:
    return PlainTextResponse(message + "\n", status)


def create_app(store: Store) -> Starlette:
    async def push(request: Request) -> Response:
        if "json" not in request.headers.get("content-type", ""):
            return _error(415, "only the JSON push format is supported (Content-Type: application/json)")
        try:
            doc = json.loads(await request.body())
            streams = doc["streams"]
            for s in streams:
                labels = {str(k): str(v) for k, v in s["stream"].items()}
                store.push(labels, [(int(ts), str(line)) for ts, line, *_ in s["values"]])
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            return _error(400, f"bad push request: {e}")
        return Response(status_code=204)

    def _query(request: Request, instant: bool) -> Response:
        p = request.query_params
        try:
            q = parse(p.get("query", ""))
            now = time.time_ns()
            end = int(p.get("end") or p.get("time") or now)
            start = int(p.get("start") or end - DEFAULT_SINCE_NS)
            limit = min(int(p.get("limit") or 100), MAX_LIMIT)
        except ParseError as e:
            return _error(400, f"parse error: {e}")
        except ValueError as e:
            return _error(400, f"bad parameter: {e}")
        direction = p.get("direction", "backward")
        if direction not in ("backward", "forward"):
            return _error(400, "direction must be backward or forward")
        result = store.query(q, start, end + (1 if instant else 0), limit, direction == "backward")
        return JSONResponse({"status": "success", "data": {"resultType": "streams", "result": result}})

    async def query_range(request: Request) -> Response:
        return _query(request, instant=False)

    async def query(request: Request) -> Response:
        return _query(request, instant=True)

    async def labels(request: Request) -> Response:
        names = sorted({k for key in store.streams for k, _ in key})
        return JSONResponse({"status": "success", "data": names})

    async def label_values(request: Request) -> Response:
        name = request.path_params["name"]
        values = sorted({v for key in store.streams for k, v in key if k == name})
        return JSONResponse({"status": "success", "data": values})

    async def ready(request: Request) -> Response:
        return PlainTextResponse("ready\n")

    return Starlette(routes=[
        Route("/loki/api/v1/push", push, methods=["POST"]),
        Route("/loki/api/v1/query_range", query_range, methods=["GET"]),
        Route("/loki/api/v1/query", query, methods=["GET"]),
        Route("/loki/api/v1/labels", labels, methods=["GET"]),
        Route("/loki/api/v1/label/{name}/values", label_values, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
    ])


async def _serve(port: int, port_file: Path | None) -> None:
    sock = bind_socket(port)
    server = uvicorn.Server(uvicorn.Config(create_app(Store()), access_log=False, log_level="warning",
                                           log_config=None))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if server.started and port_file is not None:
        write_atomic(port_file, str(sock.getsockname()[1]))
    await task


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m enginewatch.logstore", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: a free one)")
    p.add_argument("--port-file", type=Path, help="written atomically with the port once listening")
    args = p.parse_args(argv)
    setup_logging("logstore", "warning")
    asyncio.run(_serve(args.port, args.port_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
