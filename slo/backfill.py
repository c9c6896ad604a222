"""History into a real Prometheus: OpenMetrics → TSDB blocks, recording rules evaluated over the past.

Used to prove the rules and the evaluator against real data: ``promtool tsdb create-blocks-from
openmetrics`` writes raw history, ``record()`` evaluates recording rules over it with range queries
(as ``promtool tsdb create-blocks-from rules`` does, but also for rules that read other rules of the
same group, which promtool cannot), and ``LocalPrometheus`` serves the result on loopback.
"""

from __future__ import annotations

import math
import re
import subprocess
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from foundation import promtool
from foundation.process import LOOPBACK, ManagedProcess, free_port, wait_until
from foundation.prometheus import PrometheusClient
from foundation.promql import Selector, parse_selector
from slo.errors import DataSourceError


@dataclass
class Samples:
    """One series: name, labels, timestamps (s) and values."""

    name: str
    labels: dict[str, str]
    timestamps: np.ndarray
    values: np.ndarray


def openmetrics(series: Iterable[Samples]) -> str:
    """OpenMetrics text; series of one name are written together, as the format requires."""
    by_name: dict[str, list[Samples]] = {}
    for s in series:
        by_name.setdefault(s.name, []).append(s)
    lines: list[str] = []
    for name, group in by_name.items():
        for s in group:
            prefix = Selector.series(name, s.labels).promql() + " "
            ok = np.isfinite(s.values)
            lines.extend(prefix + f"{v!r} {int(t)}" for t, v in zip(s.timestamps[ok].tolist(),
                                                                     s.values[ok].tolist(), strict=True))
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def create_blocks(series: list[Samples], data_dir: Path, chunk: int = 86400) -> None:
    """Write the samples as TSDB blocks into ``data_dir``.

    promtool re-reads its whole input for every block it writes, so a month in one file takes
    minutes; one file (and one block) per day takes seconds.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    stamps = [s.timestamps for s in series if len(s.timestamps)]
    if not stamps:
        return
    first = int(min(float(t.min()) for t in stamps)) // chunk * chunk
    last = int(max(float(t.max()) for t in stamps))
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=2) as pool:
        jobs = []
        for lo in range(first, last + 1, chunk):
            part = []
            for s in series:
                sel = (s.timestamps >= lo) & (s.timestamps < lo + chunk)
                if sel.any():
                    part.append(Samples(s.name, s.labels, s.timestamps[sel], s.values[sel]))
            if part:
                path = Path(tmp) / f"{lo}.om"
                path.write_text(openmetrics(part))
                jobs.append(pool.submit(_promtool_import, path, data_dir, chunk))
        for job in jobs:
            job.result()


def _promtool_import(path: Path, data_dir: Path, block: int) -> None:
    # One block per file: promtool's default 2-hour blocks make it re-read its input for each of them.
    argv = [str(promtool.find("promtool")), "tsdb", "create-blocks-from", "openmetrics", "-q"]
    if block % 7200 == 0:
        argv.append(f"--max-block-duration={block // 3600}h")
    run = subprocess.run([*argv, str(path), str(data_dir)], capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        raise RuntimeError(f"promtool create-blocks-from openmetrics failed: {run.stderr.strip()}")


class LocalPrometheus:
    """A Prometheus we start on loopback over a TSDB directory, and stop by PID.

    ``scrape`` targets (host:port) are scraped as job ``job`` every ``scrape_interval`` seconds.
    """

    def __init__(self, data_dir: Path, rule_files: list[Path] | None = None, log: Path | None = None, *,
                 scrape: list[str] | None = None, job: str = "bench", scrape_interval: int = 30,
                 evaluation_interval: int = 60, flags: list[str] | None = None) -> None:
        self.data_dir = data_dir
        self.rule_files = rule_files or []
        self.log = log or data_dir.parent / f"{data_dir.name}-prometheus.log"
        self.scrape = scrape or []
        self.job = job
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.flags = flags or []
        self.port = 0
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 60.0) -> LocalPrometheus:
        config = self.data_dir.parent / f"{self.data_dir.name}-prometheus.yml"
        document: dict[str, Any] = {
            "global": {"evaluation_interval": f"{self.evaluation_interval}s",
                       "scrape_interval": f"{self.scrape_interval}s"},
            "rule_files": [str(p) for p in self.rule_files],
        }
        if self.scrape:
            document["scrape_configs"] = [{"job_name": self.job, "static_configs": [{"targets": self.scrape}]}]
        config.write_text(yaml.safe_dump(document))
        self.port = free_port()
        self.process = ManagedProcess("prometheus", [
            str(promtool.find("prometheus")), f"--config.file={config}", f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address={LOOPBACK}:{self.port}", "--storage.tsdb.retention.time=400d",
            "--query.max-samples=1000000000", "--query.timeout=5m", "--web.enable-admin-api", *self.flags,
        ], log_path=self.log).start()
        client = PrometheusClient(self.url)
        try:
            wait_until(lambda: self._alive() and client.ready(), timeout, 0.1, "Prometheus ready")
        except TimeoutError:
            tail = self.process.log_tail()
            self.stop()
            raise RuntimeError(f"Prometheus did not become ready:\n{tail}") from None
        finally:
            client.close()
        return self

    def _alive(self) -> bool:
        if self.process and not self.process.alive:
            raise RuntimeError(f"Prometheus exited:\n{self.process.log_tail()}")
        return True

    def stop(self) -> None:
        if self.process:
            self.process.stop(grace=20)
            self.process = None

    def __enter__(self) -> LocalPrometheus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_REF = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^{}]*\})?(\s*\[)?")


def inline(expr: str, recorded: dict[str, list[dict[str, Any]]]) -> str:
    """``expr`` with instant references to recorded series replaced by the rules that record them."""

    def replace(m: re.Match[str]) -> str:
        name, braces, range_open = m.group(1), m.group(2) or "", m.group(3)
        if name not in recorded:
            return m.group(0)
        selector = parse_selector(name + braces)
        for rule in recorded[name]:
            if all(mm.matches(rule.get("labels") or {}) for mm in selector.matchers):
                if range_open:
                    raise ValueError(f"cannot inline a range over {name}{braces}: backfill it instead")
                return "(" + inline(rule["expr"], recorded) + ")"
        return m.group(0)

    return _REF.sub(replace, expr)


def record(prom: PrometheusClient, rules: list[dict[str, Any]], start: float, end: float, step: int,
           cache: dict[str, list[Any]] | None = None) -> list[Samples]:
    """Evaluate recording rules over [start, end] every ``step`` seconds, as Prometheus would have.

    Rules may read each other instantly (their definitions are inlined); identical expressions are
    queried once.
    """
    recorded: dict[str, list[dict[str, Any]]] = {}
    for rule in rules:
        recorded.setdefault(rule["record"], []).append(rule)
    cache = {} if cache is None else cache
    out: list[Samples] = []
    for rule in rules:
        expr = inline(rule["expr"], {k: [r for r in v if r is not rule] for k, v in recorded.items()})
        key = f"{start}:{end}:{step}:{expr}"
        if key not in cache:
            try:
                cache[key] = prom.query_range(expr, start, end, step)
            except DataSourceError as exc:
                raise DataSourceError(exc.url, exc.kind, f"recording {rule['record']}: {exc.message}",
                                      status=exc.status, error_type=exc.error_type) from None
        for s in cache[key]:
            labels = {k: v for k, v in s.labels.items() if k != "__name__"}
            labels.update(rule.get("labels") or {})
            ts = np.array([p[0] for p in s.points])
            vals = np.array([p[1] for p in s.points])
            out.append(Samples(rule["record"], labels, ts, vals))
    return out


def counters(name: str, labels: dict[str, str], timestamps: np.ndarray, increments: np.ndarray) -> Samples:
    """A counter scraped at ``timestamps`` that grew by ``increments`` during each interval."""
    return Samples(name, labels, timestamps, np.cumsum(increments))


def aligned_end(step: int, lag: int = 3 * 3600) -> int:
    """A grid end safely in the past (blocks must not overlap the head) and aligned to ``step``."""
    import time

    return int(math.floor((time.time() - lag) / step) * step)
