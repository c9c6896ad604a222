"""One console for the CLI, and one way to refuse user mistakes: a clear message and exit code 2.

Every sub-app is an :class:`App`: its commands run inside :func:`user_errors`, the one place that
knows which exceptions are the user's to fix (a bad spec or experiment, a missing file or tool, no
running stack, an unreachable service) and turns them into :func:`fail`. Anything else is a bug of
ours and keeps its stack trace.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

USAGE_ERROR = 2
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = USAGE_ERROR, *, problems: Iterable[str] = (),
         source: str | None = None) -> NoReturn:
    """Print ``error: MESSAGE`` on stderr, then one line per problem, and exit with ``code``.

    Never wrapped (soft wrap): people grep these lines and copy file and field paths out of them,
    which a line break at the terminal's width would cut. With ``source``, the first line names it
    and every problem line starts with it, as ``file: field: reason``.
    """
    head = f"{message}: {source}" if source else message
    err_console.print(Text("error:", style="bold red") + Text(f" {head}"), soft_wrap=True)
    for problem in problems:
        err_console.print(Text(f"{source}: {problem}" if source else problem), soft_wrap=True)
    raise typer.Exit(code)


# Exceptions that are the user's to fix, by (module, class). Looked up in sys.modules rather than
# imported: an exception can only have been raised once its module is loaded, and importing chaos or
# dashboards just to print one line would cost a second on every refusal.
_MISTAKES: tuple[tuple[str, str], ...] = (
    ("slo.errors", "SpecError"),
    ("foundation.prometheus", "PrometheusUnavailable"),  # slo's DataSourceError
    ("foundation.orchestrator", "OrchestratorUnavailable"),
    ("foundation.promtool", "ToolMissing"),
    ("foundation.runstate", "NotRunning"),
    ("foundation.runstate", "AlreadyRunning"),
    ("engines.orchestrator.fleet", "FleetError"),
    ("dashboards.provisioning", "BuildError"),
    ("dashboards.lint", "DashboardInputError"),
    ("enginewatch.kubernetes.manifests", "RenderError"),
)
# Exceptions carrying a list of problems and their source file, with the sentence that heads them.
# The subclass comes first: a PlanError is an ExperimentError.
_PROBLEM_LISTS: tuple[tuple[str, str, str], ...] = (
    ("chaos.run", "PlanError", "the experiment does not fit the platform"),
    ("chaos.experiment", "ExperimentError", "invalid experiment"),
)


def _loaded(module: str, name: str) -> type[BaseException] | None:
    found = getattr(sys.modules.get(module), name, None)
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


def _refusal(exc: Exception) -> tuple[str, list[str], str | None] | None:
    """(message, problems, source) when ``exc`` is a mistake the user can fix; None for our bugs."""
    for module, name, title in _PROBLEM_LISTS:
        cls = _loaded(module, name)
        if cls is not None and isinstance(exc, cls):
            return title, list(getattr(exc, "problems", [])), getattr(exc, "source", None)
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename}: no such file", [], None
    mistakes = tuple(cls for module, name in _MISTAKES if (cls := _loaded(module, name)) is not None)
    if isinstance(exc, mistakes):
        return str(exc), [], None
    return None


def user_errors(fn: F) -> F:
    """Run a command; a user mistake becomes :func:`fail` (exit 2, no stack trace)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            refusal = _refusal(exc)
            if refusal is None:
                raise
            message, problems, source = refusal
            fail(message, problems=problems, source=source)

    return wrapper  # type: ignore[return-value]


class App(typer.Typer):
    """A typer app whose every command refuses user mistakes the one way (see :func:`user_errors`)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("no_args_is_help", True)
        kwargs.setdefault("add_completion", False)
        kwargs.setdefault("pretty_exceptions_enable", False)
        super().__init__(**kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        register = super().command(*args, **kwargs)

        def decorator(fn: F) -> F:
            register(user_errors(fn))
            return fn

        return decorator


def print_table(table: Table) -> None:
    """Print a table; when stdout is not a terminal, at its natural width.

    Rich fits tables to the terminal, and to 80 columns when there is none: piped into grep or a
    file, pod names and URLs would be cut short. A pipe has no width to respect.
    """
    if console.is_terminal:
        console.print(table)
        return
    natural = Measurement.get(console, console.options.update_width(1_000_000), table).maximum
    Console(file=console.file, width=max(natural, console.width), highlight=False,
            no_color=console.no_color).print(table)
