"""The log shipper of the local stack (promtail's job): tail every component's log file, push to Loki.

promtail is not packaged here, so the stack runs this thread: every ``interval_s`` it reads what each
log file gained since the last read (whole lines only) and pushes it to Loki's push API. Stream labels
are few and bounded — ``job`` (the scrape job names of the contract), and for engine nodes ``engine``,
``cluster``, ``node``, ``pod`` — plus the line's ``level``; query and trace ids stay in the line, where
LogQL's ``| json`` finds them, because ids as labels would make one stream per query.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from foundation.loki import LokiClient, LokiError

log = logging.getLogger(__name__)

#: Read at most this much of one file per round: a burst of logs is shipped over several rounds.
MAX_READ_BYTES = 4 * 1024 * 1024
Labels = Mapping[str, str]
Sources = Callable[[], Mapping[Path, Labels]]


@dataclass
class _Tail:
    labels: dict[str, str]
    offset: int = 0
    partial: bytes = b""
    inode: int = field(default=0)


def _level(line: str) -> tuple[str, int | None]:
    """The line's level label and its own timestamp (ns), when it is one of our JSON lines."""
    if not line.startswith("{"):
        return "unknown", None
    try:
        doc = json.loads(line)
    except ValueError:
        return "unknown", None
    if not isinstance(doc, dict):
        return "unknown", None
    ts = doc.get("ts")
    ns = None
    if isinstance(ts, str):
        with contextlib.suppress(ValueError):
            from datetime import datetime

            ns = int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1e9)
    return str(doc.get("level") or "unknown"), ns


class LogShipper:
    """``sources()`` maps log files to their stream labels; it is asked again every round (pods come and go)."""

    def __init__(self, loki: LokiClient, sources: Sources, interval_s: float = 0.5) -> None:
        self.loki = loki
        self.sources = sources
        self.interval_s = interval_s
        self.shipped = 0
        self.failures = 0
        self._tails: dict[Path, _Tail] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> LogShipper:
        self._thread = threading.Thread(target=self._loop, name="log-shipper", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ship what is left, then stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        with contextlib.suppress(LokiError):
            self.ship_once()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.ship_once()
            except LokiError as e:  # Loki down or restarting: keep the offsets, try again next round
                self.failures += 1
                log.warning("log shipping failed, retrying: %s", e)
            except Exception:
                self.failures += 1
                log.exception("log shipping failed")

    def ship_once(self) -> int:
        for path, labels in self.sources().items():
            if path not in self._tails:
                self._tails[path] = _Tail(dict(labels))
        batches: dict[tuple[tuple[str, str], ...], list[tuple[int, str]]] = {}
        advanced: list[tuple[_Tail, int, bytes]] = []
        for path, tail in self._tails.items():
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            if stat.st_ino != tail.inode or stat.st_size < tail.offset:  # a new file of the same name
                tail.inode, tail.offset, tail.partial = stat.st_ino, 0, b""
            if stat.st_size == tail.offset:
                continue
            with open(path, "rb") as f:
                f.seek(tail.offset)
                data = f.read(MAX_READ_BYTES)
            chunk = tail.partial + data
            *complete, rest = chunk.split(b"\n")
            now = time.time_ns()
            for n, raw in enumerate(complete):
                line = raw.decode(errors="replace").rstrip("\r")
                if not line.strip():
                    continue
                level, ts = _level(line)
                key = tuple(sorted({**tail.labels, "level": level}.items()))
                # Lines without a timestamp of their own keep their order within the round.
                batches.setdefault(key, []).append((ts or now + n, line))
            advanced.append((tail, tail.offset + len(data), rest))
        if batches:
            self.loki.push((dict(key), values) for key, values in batches.items())
        # Offsets move only once Loki took the lines: a failed push is retried whole, never lost.
        for tail, offset, rest in advanced:
            tail.offset, tail.partial = offset, rest
        shipped = sum(len(v) for v in batches.values())
        self.shipped += shipped
        return shipped
