"""Grafana's variable interpolation, so a panel's PromQL can be run outside Grafana.

The linter parses the interpolated expressions, and the live proof sends them to Prometheus.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

Value = str | Sequence[str]

#: Grafana's built-in variables, at values that make sense for a 1 h dashboard on a 15 s scrape.
BUILTINS: dict[str, str] = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}

# ${name}, ${name:format}, $name and the deprecated [[name]] / [[name:format]].
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)(?::\w+)?\]\]")
_REGEX_META = re.compile(r"([\\.+*?^$()\[\]{}|])")


class UnknownVariable(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown variable ${name}")
        self.name = name


def _multi(values: Sequence[str]) -> str:
    # As Grafana renders a multi-value selection into a regex matcher: escaped for a regex inside a
    # double-quoted PromQL string, hence the doubled backslash.
    escaped = [_REGEX_META.sub(r"\\\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else f"({'|'.join(escaped)})"


def variables_in(expr: str) -> set[str]:
    """The names of the variables an expression references (``$1`` back-references excluded)."""
    names = {m.group(1) or m.group(2) or m.group(3) for m in _VARIABLE.finditer(expr)}
    return {n for n in names if not n[0].isdigit()}


def render_expr(expr: str, variables: Mapping[str, Value] | None = None) -> str:
    """``expr`` with Grafana variables replaced: built-ins (``$__rate_interval``, ``$__interval``,
    ``$__range``) by default values unless ``variables`` overrides them, the others from
    ``variables``. A string is inserted as is (so ``".*"`` means All); a sequence of strings is
    rendered as Grafana renders a multi-value selection, ``(a|b)``.

    Raises ``UnknownVariable`` for a variable that has no value: querying with the literal
    ``$engine`` would silently match nothing.
    """
    values: dict[str, Value] = {**BUILTINS, **(variables or {})}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name[0].isdigit():  # "$1" in label_replace() is a regex back-reference, not a variable
            return match.group(0)
        if name not in values:
            raise UnknownVariable(name)
        value = values[name]
        return value if isinstance(value, str) else _multi(value)

    return _VARIABLE.sub(substitute, expr)
