"""Live progress of a load run with rich: sent, answered, errors, latency; and its summary table."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from rich.live import Live
from rich.table import Table

from enginewatch.cli.console import console
from loadgen.ledger import Entry, summarize
from loadgen.load import LoadGenerator


def _table(gen: LoadGenerator, ok: int, errors: int, p_last: float) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_row("sent", str(gen.sent), "ok", str(ok), "errors", str(errors),
              "in flight", str(gen.ledger.pending), "last latency", f"{p_last * 1000:.0f} ms")
    return t


def run_with_progress(gen: LoadGenerator) -> dict[str, Any]:
    """Run the load with a live line of counts; the ledger's summary, plus the run's wall time."""
    counts = {"ok": 0, "errors": 0, "last": 0.0}
    lock = threading.Lock()

    def on_result(e: Entry) -> None:
        with lock:
            counts["ok" if e.status == "ok" else "errors"] += 1
            counts["last"] = e.latency

    gen.on_result = on_result
    worker = threading.Thread(target=gen.run, daemon=True)
    started = time.monotonic()
    with Live(_table(gen, 0, 0, 0.0), console=console, refresh_per_second=4) as live:
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.25)
                live.update(_table(gen, int(counts["ok"]), int(counts["errors"]), float(counts["last"])))
        except KeyboardInterrupt:
            gen.stop()
            worker.join()
    df = gen.ledger.frame()
    summary: dict[str, Any] = dict(summarize(df))
    summary["elapsed_s"] = time.monotonic() - started
    # Arrivals over the time they were sent, not over the wall time: the wait for the last answers
    # is not a slower rate.
    span = float(df.start.max() - df.start.min()) if len(df) > 1 else 0.0
    summary["achieved_qps"] = (len(df) - 1) / span if span > 0 else math.nan
    return summary


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


def summary_table(summary: dict[str, Any], target_qps: float | None = None) -> Table:
    """What a load run did, for people: counts, failures by error type, latency, achieved rate."""
    t = Table(title="load", show_header=False)
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_row("queries", str(summary["queries"]))
    t.add_row("ok", str(summary["ok"]))
    t.add_row("failed", str(summary["errors"]))
    for error_type, n in sorted(summary.get("errors_by_type", {}).items(), key=lambda kv: (-kv[1], kv[0])):
        t.add_row(f"  {error_type}", str(n))
    if summary.get("abandoned"):
        t.add_row("abandoned (no answer)", str(summary["abandoned"]))
    t.add_row("retried by the gateway", str(summary.get("retried", 0)))
    t.add_row("latency p50", _ms(summary["p50_s"]))
    t.add_row("latency p99", _ms(summary["p99_s"]))
    achieved = summary.get("achieved_qps", math.nan)
    rate = "-" if math.isnan(achieved) else f"{achieved:.1f} queries/s"
    t.add_row("achieved rate", rate + (f" (target {target_qps:g})" if target_qps else ""))
    if "elapsed_s" in summary:
        t.add_row("wall time", f"{summary['elapsed_s']:.1f} s")
    return t
