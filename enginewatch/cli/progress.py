"""Live progress of a load run with rich: sent, answered, errors, latency."""

from __future__ import annotations

import threading

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


def run_with_progress(gen: LoadGenerator) -> dict:
    counts = {"ok": 0, "errors": 0, "last": 0.0}
    lock = threading.Lock()

    def on_result(e: Entry) -> None:
        with lock:
            counts["ok" if e.status == "ok" else "errors"] += 1
            counts["last"] = e.latency

    gen.on_result = on_result
    worker = threading.Thread(target=gen.run, daemon=True)
    with Live(_table(gen, 0, 0, 0.0), console=console, refresh_per_second=4) as live:
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.25)
                live.update(_table(gen, int(counts["ok"]), int(counts["errors"]), float(counts["last"])))
        except KeyboardInterrupt:
            gen.stop()
            worker.join()
    summary = summarize(gen.ledger.frame())
    console.print(summary)
    return summary
