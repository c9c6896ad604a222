"""The per-query ledger: every query sent gets an id and exactly one terminal outcome."""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

#: Outcome recorded when the client gave up before any answer (the load was stopped).
ABANDONED = "abandoned"


@dataclass(frozen=True)
class Entry:
    id: str
    engine: str
    kind: str
    start: float  # wall clock, seconds since the epoch
    end: float
    status: str  # "ok", "error" or "abandoned"
    http_status: int
    error_type: str  # "" when ok
    cluster: str
    node: str
    pod: str
    attempts: int
    read_only: bool
    #: Queue + execution time of the serving attempt (the node's ``elapsed_s``); NaN without an answer.
    #: ``end - server_s`` is when the attempt that served the query began: chaos verdicts use it to
    #: tell time lost to a fault (detection, retries) from time spent executing.
    server_s: float = math.nan
    #: Why the client got no answer at all (the HTTP client's exception), "" when it got one.
    client_error: str = ""

    @property
    def latency(self) -> float:
        return self.end - self.start


class Ledger:
    """Thread-safe; refuses a second outcome for the same id, so duplicates cannot hide."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
        self._pending: dict[str, float] = {}

    def open(self, query_id: str, start: float) -> None:
        with self._lock:
            if query_id in self._entries or query_id in self._pending:
                raise ValueError(f"query id {query_id} used twice")
            self._pending[query_id] = start

    def close(self, entry: Entry) -> None:
        with self._lock:
            if entry.id in self._entries:
                raise ValueError(f"query {entry.id} already has an outcome")
            self._pending.pop(entry.id, None)
            self._entries[entry.id] = entry

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def entries(self) -> list[Entry]:
        with self._lock:
            return list(self._entries.values())

    def frame(self) -> pd.DataFrame:
        rows = [asdict(e) for e in self.entries()]
        columns = list(Entry.__dataclass_fields__)
        df = pd.DataFrame(rows, columns=columns)
        return df.sort_values("start", kind="stable").reset_index(drop=True)

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.frame().to_parquet(path, index=False)
        return path


def read_ledger(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def summarize(df: pd.DataFrame) -> dict[str, float | int | dict[str, int]]:
    """The figures people ask first: how many, how many failed and why, latency percentiles."""
    done = df[df.status != ABANDONED]
    latency = (done.end - done.start) if len(done) else pd.Series(dtype=float)
    errors = done[done.status == "error"]
    return {
        "queries": int(len(df)),
        "ok": int((df.status == "ok").sum()),
        "errors": int(len(errors)),
        "abandoned": int((df.status == ABANDONED).sum()),
        "errors_by_type": {str(k): int(v) for k, v in errors.error_type.value_counts().items()},
        "retried": int((done.attempts > 1).sum()) if len(done) else 0,
        "p50_s": float(latency.quantile(0.5)) if len(latency) else float("nan"),
        "p99_s": float(latency.quantile(0.99)) if len(latency) else float("nan"),
    }
