"""How option values become what the verbs need: durations in the one grammar, and the URLs of the
running stack when no flag names them.

Every verb that talks to a component (gateway, orchestrator, Prometheus) finds it the same way: the
flag when given, else the stack that `enginewatch up` recorded in run.json, else exit 2 saying to
start one or to pass the flag.
"""

from __future__ import annotations

from typing import Literal

from enginewatch.cli.console import fail
from foundation import runstate
from foundation.durations import parse_duration, parse_seconds

Component = Literal["gateway", "orchestrator", "prometheus", "alertmanager", "slo_service", "loki"]


def running(hint: str = "") -> runstate.RunState:
    """The running stack; exit 2 when there is none, with ``hint`` (another way to point the verb)."""
    try:
        return runstate.load()
    except runstate.NotRunning as e:
        fail(f"{e}{'; or ' + hint if hint else ''}")


def url(explicit: str | None, component: Component, flag: str) -> str:
    """``explicit`` when given, else the running stack's URL of ``component``."""
    if explicit:
        return explicit
    found: str = getattr(running(f"pass {flag} URL"), component)
    if not found:
        fail(f"the running stack has no {component.replace('_', ' ')}: pass {flag} URL")
    return found


def duration(text: str, flag: str) -> float:
    """Seconds of a duration option (``30s``, ``1h30m``, ``1d``, a bare number of seconds)."""
    try:
        return parse_duration(text)
    except ValueError as e:
        fail(f"invalid {flag}: {e}")


def whole_seconds(text: str, flag: str) -> int:
    """Whole seconds of a duration option, for windows that Prometheus takes in seconds."""
    try:
        return parse_seconds(text)
    except ValueError as e:
        fail(f"invalid {flag}: {e}")
