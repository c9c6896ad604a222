"""`enginewatch up`: the stack in the foreground until Ctrl-C (or SIGTERM), then nothing left behind."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from rich.table import Table

from enginewatch.cli.console import console, print_table
from enginewatch.stack import DEFAULT_FLEET, Stack, StackOptions
from foundation import runstate


def slo_service_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("slo.service") is not None


def _urls(stack: Stack) -> Table:
    t = Table(title="enginewatch is up", show_header=False)
    t.add_row("gateway", stack.gateway_url + "/query")
    t.add_row("orchestrator", (stack.orchestrator.url if stack.orchestrator else "") or "")
    t.add_row("prometheus", stack.prometheus_url)
    if stack.alertmanager:
        t.add_row("alertmanager", stack.alertmanager.url)
    if stack.slo_service_url:
        t.add_row("SLO service", stack.slo_service_url)
    if stack.loki_url:
        t.add_row("logs (Loki API)", stack.loki_url)
    t.add_row("engines", ", ".join(stack.engines))
    t.add_row("state", str(stack.state_dir))
    return t


def run_up(fleet: Path | None, load_qps: float, load_duration_s: float, exit_after_load: bool,
           state_dir: Path | None) -> None:
    stop = threading.Event()
    # SIGTERM is treated like Ctrl-C so that a supervisor stopping us still gets a clean teardown.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # A bad fleet file (FleetError) or a stack already running (AlreadyRunning) is refused by the
    # command's user_errors wrapper, like every other user mistake.
    stack = Stack(StackOptions(fleet=fleet or DEFAULT_FLEET, state_dir=state_dir or runstate.home() / "stack",
                               alerting=True, slo_service=slo_service_available(), logs=True),
                  on_step=lambda step: console.print(f"[dim]starting {step}…[/]"))
    try:
        with stack:
            console.print(_urls(stack))
            if load_qps > 0:
                _run_load(stack, load_qps, load_duration_s, stop)
                if exit_after_load:
                    return
            console.print("[bold]Ctrl-C to stop[/]")
            while not stop.wait(0.5):
                pass
    except KeyboardInterrupt:
        pass
    finally:
        console.print("[dim]stopped; no process left behind[/]")


def _run_load(stack: Stack, qps: float, duration_s: float, stop: threading.Event) -> None:
    from enginewatch.cli.progress import run_with_progress, summary_table
    from loadgen.load import LoadGenerator, LoadSpec

    spec = LoadSpec(qps=qps, duration_s=duration_s, engines=tuple(stack.engines),
                    max_queries=int(qps * duration_s * 1.5) + 10)
    gen = LoadGenerator(stack.gateway_url, spec)
    threading.Thread(target=lambda: (stop.wait(), gen.stop()), daemon=True).start()
    console.print(f"load: {qps:g} queries/s for {duration_s:g} s on {', '.join(spec.engines)}")
    summary = run_with_progress(gen)
    print_table(summary_table(summary, qps))
    path = gen.ledger.write(stack.state_dir / "ledger.parquet")
    console.print(f"ledger: {path} ({summary['queries']} queries)", markup=False, soft_wrap=True)
