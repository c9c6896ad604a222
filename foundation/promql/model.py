"""A vector selector as data: a metric name and label matchers, rendered and matched as Prometheus does.

Quoting lives here and only here, so a label value with a quote or a backslash in it renders the same
way — correctly — whichever builder or parser produced the selector.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

MatchOp = Literal["=", "!=", "=~", "!~"]
MATCH_OPS: tuple[MatchOp, ...] = ("=", "!=", "=~", "!~")
REGEX_OPS: frozenset[MatchOp] = frozenset({"=~", "!~"})

#: The escapes a PromQL string may hold that stand for another character; any other ``\x`` is ``x``.
_ESCAPES = {"n": "\n", "t": "\t"}
_ESCAPE = re.compile(r"\\(.)", re.S)


def quote(value: str) -> str:
    """``value`` as a double-quoted PromQL string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def unquote(token: str) -> str:
    """The value of a PromQL string token: double- or single-quoted with escapes, or a raw backtick string."""
    if token.startswith("`"):
        return token[1:-1]
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), token[1:-1])


@dataclass(frozen=True)
class Matcher:
    name: str
    op: MatchOp
    value: str

    @property
    def is_regex(self) -> bool:
        return self.op in REGEX_OPS

    def promql(self) -> str:
        return f"{self.name}{self.op}{quote(self.value)}"

    def matches(self, labels: dict[str, str]) -> bool:
        """Prometheus semantics: a missing label has the empty value; regexes are fully anchored."""
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        hit = re.fullmatch(self.value, actual) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return self.promql()


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[Matcher, ...] = ()

    @classmethod
    def series(cls, name: str, labels: Mapping[str, str]) -> Selector:
        """Exactly one series, ``name{a="x",b="y"}`` with its labels in name order: the notation of
        promtool's input series and of OpenMetrics samples, whose strings escape as PromQL's do."""
        return cls(name, tuple(Matcher(k, "=", v) for k, v in sorted(labels.items())))

    def promql(self, separator: str = ",") -> str:
        """``metric{a="b",c=~"d"}``; ``separator`` joins the matchers (the dashboards use ``", "``)."""
        if not self.matchers:
            return self.metric
        return self.metric + "{" + separator.join(m.promql() for m in self.matchers) + "}"

    def matches(self, name: str, labels: dict[str, str]) -> bool:
        return name == self.metric and all(m.matches(labels) for m in self.matchers)

    def __str__(self) -> str:
        return self.promql()
