"""The query core: DuckDB over the Parquet object storage, one query per slot worker thread.

One DuckDB database per node, ``threads=1``: each query runs on the calling worker thread only, so a
node's CPU use is bounded by its slots, as a query slot means in a real engine. The catalog is a tiny
read-only database file holding views over the storage's Parquet files; file access outside the
storage and spill directories is switched off. A client can therefore not drop a table, read local
files or write anywhere — but it can still create temporary tables, which live in its own session.

Each slot worker keeps one session (a DuckDB connection) with profiling on, because switching
profiling on costs more than a trivial query; a session is replaced after any statement that can leave
state behind (transactions, temporary objects, variables) and after an interruption. Configuration
statements (``SET``, ``PRAGMA``) are refused: the memory limit of the node type is not the client's.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import json
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from opentelemetry import trace
from opentelemetry.context import Context

from engines.kinds import classify
from engines.node.config import MIB, NodeType
from engines.node.faults import StorageFaults
from engines.storage import parquet_files
from exporters.tracing import get_tracer

MAX_ROWS = 1000
PROBE_TABLE = "nation"  # the smallest object in storage (25 rows): a storage probe times latency, not bytes
QUERY_TEXT_LIMIT = 2000  # db.query.text in spans is truncated: spans are not a query log

_tracer = get_tracer("engines.node.core")

_CHUNK_VECTORS = 16  # DuckDB vectors (2048 rows) per chunk when counting rows past MAX_ROWS

_DENIED = frozenset({"SET", "PRAGMA", "ATTACH", "DETACH", "LOAD", "EXTENSION", "EXPORT", "COPY_DATABASE"})
_STATELESS = frozenset({"SELECT", "EXPLAIN"})

# Errors that the statement itself causes: the same statement fails the same way on any node.
_USER_ERRORS: tuple[type[Exception], ...] = (
    duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException, duckdb.ConversionException,
    duckdb.InvalidInputException, duckdb.OutOfRangeException, duckdb.NotImplementedException,
    duckdb.PermissionException, duckdb.ConstraintException, duckdb.TypeMismatchException,
    duckdb.DependencyException,
)

_PROFILE_FIELDS = re.compile(
    r'"(total_bytes_scanned|total_rows_scanned|total_bytes_spilled|peak_buffer_memory)": (\d+)')


class QueryError(Exception):
    """A query that ended in an error of the contract's ``error_type``."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass
class QueryResult:
    columns: list[str]
    rows_json: str  # the first MAX_ROWS rows, already JSON: encoded on the worker, not the event loop
    row_count: int
    scanned_bytes: int = 0
    scanned_rows: int = 0
    spilled_bytes: int = 0
    peak_memory_bytes: int = 0  # the query core's peak buffer memory over the statements


@dataclass(eq=False)  # compared and hashed by identity: jobs are tracked in sets while in flight
class QueryJob:
    """One query on its way through the core, and the handle to cancel it from another thread."""

    sql: str
    kind_hint: str | None = None
    context: Context | None = None  # the node.query span's context; None when it is not recorded
    operation: str = "UNKNOWN"
    kind: str = "other"
    cancel_reason: str | None = None
    _session: duckdb.DuckDBPyConnection | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def cancel(self, reason: str) -> None:
        """Ask the query to stop with ``reason`` (``timeout`` or ``canceled``); the first reason wins.

        DuckDB forgets an interrupt that arrives before execution starts, so callers repeat
        :meth:`interrupt` until the worker returns; the worker also checks the reason between steps.
        """
        with self._lock:
            if self.cancel_reason is None:
                self.cancel_reason = reason
        self.interrupt()

    def interrupt(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.interrupt()

    def _attach(self, session: duckdb.DuckDBPyConnection | None) -> None:
        with self._lock:
            self._session = session

    def _check_canceled(self) -> None:
        if self.cancel_reason is not None:
            raise QueryError(self.cancel_reason, f"query {self.cancel_reason} before it finished")


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID | datetime.timedelta):
        return str(value)
    return str(value)


class QueryCore:
    """DuckDB over the storage directory, sized by the node type; spill goes to ``work_dir``."""

    def __init__(self, storage: Path, node_type: NodeType, work_dir: Path,
                 faults: StorageFaults | None = None) -> None:
        self.node_type = node_type
        self.faults = faults or StorageFaults()
        self._tables = frozenset(parquet_files(storage))
        # Only to name the tables a statement reads: the catalog's connection hides its views from
        # get_table_names, an empty one does not. Made on first use (with storage latency on only).
        self._parser: duckdb.DuckDBPyConnection | None = None
        self._parser_lock = threading.Lock()
        spill = work_dir / "spill"
        spill.mkdir(parents=True, exist_ok=True)
        catalog = work_dir / "catalog.duckdb"
        _write_catalog(catalog, storage)
        self._db = duckdb.connect(str(catalog), read_only=True, config={
            "threads": 1,
            "memory_limit": f"{node_type.memory_limit_bytes // MIB}MiB",
            "temp_directory": str(spill),
            "max_temp_directory_size": "4GiB",
        })
        self._db.execute("SET allowed_directories = $dirs", {"dirs": [f"{storage}/", f"{spill}/"]})
        self._db.execute("SET enable_external_access = false")
        self._local = threading.local()
        self._sessions: set[duckdb.DuckDBPyConnection] = set()
        self._sessions_lock = threading.Lock()

    def interrupt_all(self) -> None:
        """Interrupt whatever every session is executing (shutdown safety net)."""
        with self._sessions_lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.interrupt()

    def close(self) -> None:
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, set()
        for session in sessions:
            session.close()
        with self._parser_lock:
            if self._parser is not None:
                self._parser.close()
        self._db.close()

    # --- storage latency (a fault knob) ------------------------------------------------------------

    def storage_objects(self, sql: str) -> int:
        """How many storage objects (tables' Parquet files) the statement reads."""
        with self._parser_lock:
            if self._parser is None:
                self._parser = duckdb.connect()
            try:
                names = self._parser.get_table_names(sql)
            except duckdb.Error:
                return 0  # the real execution reports the error
        return len({n.lower() for n in names} & self._tables)

    def _delay_storage(self, sql: str, job: QueryJob) -> None:
        if self.faults.per_read_s > 0:
            self.faults.delay(self.storage_objects(sql), lambda: job.cancel_reason is not None)
            job._check_canceled()

    def probe_storage_read(self) -> float:
        """Seconds to read one storage object (the smallest table) through the same delay as queries."""
        started = time.perf_counter()
        self.faults.delay(1, count=False)
        session = self._db.cursor()
        try:
            session.execute(f"SELECT count(*) FROM {PROBE_TABLE}").fetchall()
        finally:
            session.close()
        return time.perf_counter() - started

    # --- sessions ------------------------------------------------------------------------------------

    def _session(self) -> duckdb.DuckDBPyConnection:
        session: duckdb.DuckDBPyConnection | None = getattr(self._local, "session", None)
        if session is None:
            session = self._db.cursor()
            # Progress bars would be drawn on stdout (our log) for statements slower than 2 s.
            session.execute("SET enable_profiling = 'no_output'; SET enable_progress_bar = false")
            with self._sessions_lock:
                self._sessions.add(session)
            self._local.session = session
        return session

    def _discard_session(self) -> None:
        session = getattr(self._local, "session", None)
        if session is not None:
            self._local.session = None
            with self._sessions_lock:
                self._sessions.discard(session)
            session.close()

    # --- execution -----------------------------------------------------------------------------------

    def run(self, job: QueryJob) -> QueryResult:
        """Execute ``job`` on the calling thread. Raises :class:`QueryError` with a contract error type."""
        clean = False
        try:
            session = self._session()
            job._attach(session)
            result = self._run(session, job)
            clean = True
            return result
        except QueryError:
            raise
        except duckdb.InterruptException as exc:
            raise QueryError(job.cancel_reason or "canceled", str(exc)) from exc
        except duckdb.OutOfMemoryException as exc:
            raise QueryError("oom", str(exc)) from exc
        except _USER_ERRORS as exc:
            clean = job.operation in _STATELESS
            raise QueryError("invalid_sql", str(exc)) from exc
        except Exception as exc:  # anything else is the platform's fault, whatever it is
            if job.cancel_reason is not None:  # e.g. an interrupted Arrow stream surfaces as another type
                raise QueryError(job.cancel_reason, str(exc)) from exc
            raise QueryError("internal", f"{type(exc).__name__}: {exc}") from exc
        finally:
            job._attach(None)
            if not clean or job.operation not in _STATELESS:
                self._discard_session()

    def _run(self, session: duckdb.DuckDBPyConnection, job: QueryJob) -> QueryResult:
        job._check_canceled()
        with _span("core.parse", job) as span:
            statements = session.extract_statements(job.sql)
            if not statements:
                raise QueryError("invalid_sql", "no statement to execute")
            operations = [s.type.name for s in statements]
            # A script is named after its first statement with side effects, else after its last one.
            job.operation = next((o for o in operations if o not in _STATELESS), operations[-1])
            job.kind = classify(job.sql, job.operation, job.kind_hint)
            span.set_attribute("db.operation.name", job.operation)
            denied = sorted(set(operations) & _DENIED)
            if denied:
                raise QueryError("invalid_sql", f"{', '.join(denied)} statements are not allowed on engine nodes")

        scanned_bytes = scanned_rows = spilled = peak = 0
        with _span("core.execute", job):
            for index, statement in enumerate(statements):
                job._check_canceled()
                self._delay_storage(statement.query, job)
                session.execute(statement)
                if index < len(statements) - 1 and statement.type.name == "SELECT":
                    session.fetchall()  # an intermediate SELECT's rows go nowhere, its cost counts
                    scanned_bytes, scanned_rows, spilled, peak = _add_profile(session, scanned_bytes,
                                                                               scanned_rows, spilled, peak)
        with _span("core.fetch", job) as span:
            columns = [d[0] for d in session.description or ()]
            rows = session.fetchmany(MAX_ROWS) if columns else []
            row_count = len(rows)
            if row_count == MAX_ROWS:
                row_count += _count_rest(session)
            if statements[-1].type.name == "SELECT":
                scanned_bytes, scanned_rows, spilled, peak = _add_profile(session, scanned_bytes, scanned_rows,
                                                                           spilled, peak)
            span.set_attribute("db.response.returned_rows", row_count)
            rows_json = _encode_rows(rows)
        return QueryResult(columns, rows_json, row_count, scanned_bytes, scanned_rows, spilled, peak)


def _encode_rows(rows: list[Any]) -> str:
    try:
        return json.dumps(rows, default=_json_default, separators=(",", ":"), allow_nan=False)
    except ValueError:  # NaN or infinity somewhere: JSON has no such numbers, clients get null
        return json.dumps(_finite(rows), default=_json_default, separators=(",", ":"))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _span(name: str, job: QueryJob) -> contextlib.AbstractContextManager[trace.Span]:
    # Child spans of an unrecorded query would be no-ops costing ~30 µs each: skip them outright.
    if job.context is None:
        return contextlib.nullcontext(trace.INVALID_SPAN)
    return _tracer.start_as_current_span(name, context=job.context)


def _count_rest(session: duckdb.DuckDBPyConnection) -> int:
    """Produce and count the rows past the first MAX_ROWS: the query's real cost, in bounded memory.

    Columnar chunks, not Python tuples (20x faster); not Arrow either, whose DB-API path loses the
    query's profile (scanned bytes and rows).
    """
    count = 0
    while chunk_rows := len(session.fetch_df_chunk(_CHUNK_VECTORS)):
        count += chunk_rows
    return count


def _add_profile(session: duckdb.DuckDBPyConnection, scanned_bytes: int, scanned_rows: int,
                 spilled: int, peak: int) -> tuple[int, int, int, int]:
    """Add the storage bytes and rows the last statement read, and what it spilled, from its profile;
    the peak memory is the highest of any statement's."""
    fields = dict(_PROFILE_FIELDS.findall(session.get_profiling_information()))
    return (scanned_bytes + int(fields.get("total_bytes_scanned", 0)),
            scanned_rows + int(fields.get("total_rows_scanned", 0)),
            spilled + int(fields.get("total_bytes_spilled", 0)),
            max(peak, int(fields.get("peak_buffer_memory", 0))))


def _write_catalog(catalog: Path, storage: Path) -> None:
    con = duckdb.connect(str(catalog))
    try:
        for table, path in parquet_files(storage).items():
            literal = str(path).replace("'", "''")
            con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet('{literal}')")
    finally:
        con.close()


def query_text(sql: str) -> str:
    return sql if len(sql) <= QUERY_TEXT_LIMIT else sql[:QUERY_TEXT_LIMIT] + "…"

