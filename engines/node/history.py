"""The node's query history (ClickHouse ``system.query_log``) and its live queries (``system.processes``).

Every query the node answered ends in one :class:`QueryRecord`: who ran it where, how it ended and what
it cost (queue and total time, rows and bytes scanned, spill, peak buffer memory). Records live in a
bounded ring in memory, which ``GET /queries`` serves without touching the disk, and are flushed by a
background thread to Parquet segments beside the node, so the history outlives the process (a pod
restart keeps its directory) and a crash loses at most one flush interval.

Bounded on every side: the ring holds ``capacity`` records; on disk the newest segment is rewritten
(atomically) until it holds ``segment_rows`` records, then sealed, and the oldest segments are deleted
past ``max_segments``. The statement is kept as a prefix only: a history is for finding a query, not
for replaying it, and a 1 MiB statement must not cost 1 MiB per record.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

SQL_PREFIX_CHARS = 200
ERROR_CHARS = 500
#: Finished statuses; a live query is ``queued`` or ``running``.
FINISHED_STATUSES: tuple[str, ...] = ("ok", "error", "canceled")
#: ``status=failed`` in a filter: every finished query that did not succeed.
FAILED = "failed"
SEGMENT_PREFIX = "queries-"


@dataclass(frozen=True, slots=True)
class QueryRecord:
    """One finished query on this node."""

    seq: int  # order of completion on this node: unique here, unlike the client's query id
    query_id: str
    trace_id: str | None
    engine: str
    cluster: str
    node: str
    pod: str
    kind: str
    status: str  # ok, error or canceled
    error_type: str | None
    error: str | None
    sql: str  # the first SQL_PREFIX_CHARS characters
    started_at: float  # wall clock, seconds since the epoch, when the request arrived
    duration_s: float  # arrival to answer, queue included
    queue_s: float
    row_count: int
    scanned_rows: int
    scanned_bytes: int
    spilled_bytes: int
    peak_memory_bytes: int

    def to_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies field by field, ten times slower, for flat values.
        return {name: getattr(self, name) for name in _FIELDS}


_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(QueryRecord))
_SCHEMA = pa.schema([
    ("seq", pa.int64()), ("query_id", pa.string()), ("trace_id", pa.string()), ("engine", pa.string()),
    ("cluster", pa.string()), ("node", pa.string()), ("pod", pa.string()), ("kind", pa.string()),
    ("status", pa.string()), ("error_type", pa.string()), ("error", pa.string()), ("sql", pa.string()),
    ("started_at", pa.float64()), ("duration_s", pa.float64()), ("queue_s", pa.float64()),
    ("row_count", pa.int64()), ("scanned_rows", pa.int64()), ("scanned_bytes", pa.int64()),
    ("spilled_bytes", pa.int64()), ("peak_memory_bytes", pa.int64()),
])
assert tuple(_SCHEMA.names) == _FIELDS, "the Parquet schema follows QueryRecord"


@dataclass(eq=False, slots=True)  # identity: one object per query in flight, kept in a set
class LiveQuery:
    """A query the node is working on. ``cancel`` is set by the query service for as long as it can act."""

    query_id: str
    sql: str
    kind: str
    started_at: float  # wall clock
    started: float  # perf_counter
    trace_id: str | None = None
    admitted: float | None = None  # perf_counter when it got a slot; None while queued
    killed: bool = False  # an operator asked to cancel it
    abandoned: bool = False  # its client went away before the answer
    cancel: Callable[[], None] | None = field(default=None, repr=False)

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        now = time.perf_counter() if now is None else now
        return {"query_id": self.query_id, "trace_id": self.trace_id, "kind": self.kind,
                "status": "queued" if self.admitted is None else "running", "sql": self.sql,
                "started_at": self.started_at, "running_s": round(now - self.started, 6),
                "queue_s": round((self.admitted if self.admitted is not None else now) - self.started, 6)}


class QueryHistory:
    """Live and finished queries of one node; ``directory`` None keeps the history in memory only.

    ``begin``/``finish``/reads run on the event loop; only the flush runs elsewhere, on its own thread,
    and the two share nothing but the pending buffer, under a lock.
    """

    def __init__(self, identity: Mapping[str, str], directory: Path | None = None, *, capacity: int = 10_000,
                 segment_rows: int = 1000, max_segments: int = 20, flush_interval_s: float = 1.0) -> None:
        if capacity < 1 or segment_rows < 1 or max_segments < 1:
            raise ValueError("capacity, segment_rows and max_segments must be at least 1")
        self.identity = {k: identity[k] for k in ("engine", "cluster", "node", "pod")}
        self.directory = directory
        self.segment_rows = segment_rows
        self.max_segments = max_segments
        self.flush_interval_s = flush_interval_s
        self._ring: deque[QueryRecord] = deque(maxlen=capacity)
        self._live: set[LiveQuery] = set()
        self._seq = 0
        self._lock = threading.Lock()
        self._pending: list[QueryRecord] = []
        self._open: list[QueryRecord] = []  # records of the newest, not yet sealed, segment
        self._open_name: str | None = None
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            self._load()

    # --- the query path ----------------------------------------------------------------------------

    def begin(self, query_id: str, sql: str, kind: str, trace_id: str | None = None) -> LiveQuery:
        live = LiveQuery(query_id, sql[:SQL_PREFIX_CHARS], kind, time.time(), time.perf_counter(), trace_id)
        self._live.add(live)
        return live

    def finish(self, live: LiveQuery, error_type: str | None, error: str | None, *, duration_s: float,
               queue_s: float, row_count: int = 0, scanned_rows: int = 0, scanned_bytes: int = 0,
               spilled_bytes: int = 0, peak_memory_bytes: int = 0) -> QueryRecord:
        self._live.discard(live)
        live.cancel = None
        self._seq += 1
        status = "ok" if error_type is None else "canceled" if error_type == "canceled" else "error"
        record = QueryRecord(
            self._seq, live.query_id, live.trace_id, **self.identity, kind=live.kind, status=status,
            error_type=error_type, error=error[:ERROR_CHARS] if error else None, sql=live.sql,
            started_at=live.started_at, duration_s=round(duration_s, 6), queue_s=round(queue_s, 6),
            row_count=row_count, scanned_rows=scanned_rows, scanned_bytes=scanned_bytes,
            spilled_bytes=spilled_bytes, peak_memory_bytes=peak_memory_bytes)
        self._ring.append(record)
        if self.directory is not None:
            with self._lock:
                self._pending.append(record)
        return record

    # --- reads -------------------------------------------------------------------------------------

    def running(self) -> list[LiveQuery]:
        """Live queries, longest-running first."""
        return sorted(self._live, key=lambda q: q.started)

    def live(self, query_id: str) -> list[LiveQuery]:
        return [q for q in self._live if q.query_id == query_id]

    def oldest_running_s(self) -> float:
        """Seconds the longest-executing query has held its slot; 0 when none runs (a gauge's value)."""
        admitted = [q.admitted for q in list(self._live) if q.admitted is not None]
        return time.perf_counter() - min(admitted) if admitted else 0.0

    def find(self, query_id: str) -> list[QueryRecord]:
        """Finished records of a query id, oldest first (a retried query can end here more than once)."""
        return [r for r in self._ring if r.query_id == query_id]

    def recent(self, status: str | None = None, limit: int = 100, slowest: int | None = None) -> list[QueryRecord]:
        """Finished queries, newest first; ``slowest`` N: the N longest instead; ``status`` ok, error,
        canceled or failed (error or canceled)."""
        records: Iterable[QueryRecord] = reversed(self._ring)
        if status is not None:
            wanted = {"error", "canceled"} if status == FAILED else {status}
            records = (r for r in records if r.status in wanted)
        if slowest is not None:
            return sorted(records, key=lambda r: r.duration_s, reverse=True)[:slowest]
        out: list[QueryRecord] = []
        for r in records:
            if len(out) >= limit:
                break
            out.append(r)
        return out

    # --- durability --------------------------------------------------------------------------------

    def start(self) -> None:
        """Flush in the background (no-op in memory)."""
        if self.directory is None or self._flusher is not None:
            return
        self._flusher = threading.Thread(target=self._flush_loop, name="history-flush", daemon=True)
        self._flusher.start()

    def close(self) -> None:
        """Stop the flusher and write what is pending: a clean exit loses nothing."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout=5.0)
            self._flusher = None
        self.flush()

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_interval_s):
            try:
                self.flush()
            except Exception:  # a full disk must not stop the node serving queries
                log.exception("query history flush failed; retrying at the next interval")

    def flush(self) -> int:
        """Write pending records to the open segment (sealing and rotating as needed); how many."""
        if self.directory is None:
            return 0
        with self._lock:
            pending, self._pending = self._pending, []
        written = 0
        while pending:
            if self._open_name is None:
                self._open_name = f"{SEGMENT_PREFIX}{pending[0].seq:012d}.parquet"
            room = self.segment_rows - len(self._open)
            self._open.extend(pending[:room])
            written += len(pending[:room])
            pending = pending[room:]
            self._write(self.directory / self._open_name, self._open)
            if len(self._open) >= self.segment_rows:
                self._open, self._open_name = [], None
        if written:
            self._rotate()  # the open segment counts: at most max_segments files at any time
        return written

    def segments(self) -> list[Path]:
        if self.directory is None:
            return []
        # Names carry the first record's zero-padded seq: name order is age order.
        return sorted(self.directory.glob(f"{SEGMENT_PREFIX}*.parquet"))

    def _write(self, path: Path, records: list[QueryRecord]) -> None:
        # Column by column: the flush thread holds the GIL while it builds the table, away from queries.
        table = pa.table({name: [getattr(r, name) for r in records] for name in _FIELDS}, schema=_SCHEMA)
        tmp = path.with_name(f".{path.name}.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, path)  # readers (and a restart) see the old segment or the new one, never half

    def _rotate(self) -> None:
        segments = self.segments()
        for old in segments[: max(0, len(segments) - self.max_segments)]:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()

    def _load(self) -> None:
        """Read the newest segments back into the ring (a restarted pod keeps its history)."""
        capacity = self._ring.maxlen or 0
        loaded: list[QueryRecord] = []
        for path in reversed(self.segments()):
            if len(loaded) >= capacity:
                break
            try:
                rows = pq.read_table(path, schema=_SCHEMA).to_pylist()
            except (OSError, pa.ArrowInvalid) as exc:  # a segment from a disk that filled up: skip it
                log.warning("skipping unreadable query history segment %s: %s", path, exc)
                continue
            loaded[:0] = [QueryRecord(**row) for row in rows]
        for record in loaded[-capacity:]:
            self._ring.append(record)
        self._seq = max((r.seq for r in loaded), default=0)
        self._rotate()
