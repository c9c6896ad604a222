"""The small part of PromQL the SLO model needs: label matchers, vector selectors and window templates.

Event queries are either a *selector* (we build ``sum by (...) (rate(<selector>[<window>]))`` around
it, which lets us synthesize test input and backtest history for it) or a free-form *template* in
Sloth's style, with ``{{.window}}`` where the range goes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

MatchOp = Literal["=", "!=", "=~", "!~"]

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
_STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`'
_MATCHER_RE = re.compile(rf"\s*({_LABEL})\s*(=~|!~|!=|=)\s*({_STRING})\s*(,|$)")
_SELECTOR_RE = re.compile(rf"^\s*({_NAME})?\s*(?:\{{(.*)\}})?\s*$", re.S)
WINDOW_RE = re.compile(r"\{\{\s*\.window\s*\}\}")
# sum(rate(<selector>[{{.window}}])) and sum by (a, b) (rate(...)): the forms worth making structured.
_SIMPLE_SUM_RE = re.compile(
    r"^\s*sum\s*(?:by\s*\(([\w\s,]*)\)\s*)?\(\s*rate\s*\(\s*(.+?)\s*\[\s*\{\{\s*\.window\s*\}\}\s*\]\s*\)\s*\)"
    r"\s*(?:by\s*\(([\w\s,]*)\)\s*)?$",
    re.S,
)


def _unquote(token: str) -> str:
    if token.startswith("`"):
        return token[1:-1]
    body = token[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@dataclass(frozen=True)
class Matcher:
    name: str
    op: MatchOp
    value: str

    def promql(self) -> str:
        return f"{self.name}{self.op}{_quote(self.value)}"

    def matches(self, labels: dict[str, str]) -> bool:
        """Prometheus semantics: a missing label has the empty value; regexes are fully anchored."""
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        hit = re.fullmatch(self.value, actual) is not None
        return hit if self.op == "=~" else not hit


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[Matcher, ...] = ()

    def promql(self) -> str:
        if not self.matchers:
            return self.metric
        return self.metric + "{" + ",".join(m.promql() for m in self.matchers) + "}"

    def matches(self, name: str, labels: dict[str, str]) -> bool:
        return name == self.metric and all(m.matches(labels) for m in self.matchers)

    def __str__(self) -> str:
        return self.promql()


def parse_selector(text: str) -> Selector:
    """``metric{a="b",c=~"d"}``; ``ValueError`` naming the problem otherwise."""
    m = _SELECTOR_RE.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a vector selector like metric{{label=\"value\"}}")
    metric, body = m.group(1), m.group(2) or ""
    matchers: list[Matcher] = []
    pos = 0
    body = body.strip()
    while pos < len(body):
        mm = _MATCHER_RE.match(body, pos)
        if not mm:
            raise ValueError(f"cannot parse label matchers {body[pos:]!r} in {text!r}")
        name, op, raw = mm.group(1), mm.group(2), mm.group(3)
        if name == "__name__" and op == "=":
            metric = metric or _unquote(raw)
        else:
            matchers.append(Matcher(name, op, _unquote(raw)))  # type: ignore[arg-type]
        pos = mm.end()
    if not metric:
        raise ValueError(f"{text!r} has no metric name")
    for matcher in matchers:
        if matcher.op in ("=~", "!~"):
            try:
                re.compile(matcher.value)
            except re.error as exc:
                raise ValueError(f"bad regex {matcher.value!r} for label {matcher.name}: {exc}") from exc
    return Selector(metric, tuple(matchers))


@dataclass(frozen=True)
class SelectorQuery:
    """Events per second of the series matching ``selector``, summed by the SLI's grouping labels."""

    selector: Selector

    def render(self, window: str, group_by: tuple[str, ...] = ()) -> str:
        by = f" by ({', '.join(group_by)}) " if group_by else ""
        return f"sum{by}(rate({self.selector.promql()}[{window}]))"


@dataclass(frozen=True)
class TemplateQuery:
    """A free-form PromQL expression with ``{{.window}}`` placeholders (Sloth's SLI query style)."""

    template: str

    def render(self, window: str, group_by: tuple[str, ...] = ()) -> str:
        return WINDOW_RE.sub(window, self.template.strip())


Query = SelectorQuery | TemplateQuery


def parse_window_template(text: str) -> tuple[Query, tuple[str, ...] | None]:
    """A Sloth-style query, made structured when it is the plain ``sum(rate(sel[{{.window}}]))`` form.

    Returns the query and, for a structured one, its grouping labels (None for a template).
    """
    if not WINDOW_RE.search(text):
        raise ValueError("query has no {{.window}} placeholder for the time range")
    m = _SIMPLE_SUM_RE.match(text)
    if m:
        try:
            selector = parse_selector(m.group(2))
        except ValueError:
            return TemplateQuery(text), None
        by = m.group(1) if m.group(1) is not None else m.group(3)
        labels = tuple(x.strip() for x in (by or "").split(",") if x.strip())
        return SelectorQuery(selector), labels
    return TemplateQuery(text), None


def selectors_in(text: str) -> list[str]:
    """Metric names that an expression reads (for messages and series synthesis)."""
    return re.findall(rf"({_NAME})\s*\{{", text)


_SUM_OF_SELECTOR_RE = re.compile(
    r"^\s*sum\s*(?:by\s*\(([\w\s,]*)\)\s*)?\(\s*([^()\[\]]+?)\s*\)\s*(?:by\s*\(([\w\s,]*)\)\s*)?$", re.S
)


def parse_counter_expression(text: str) -> tuple[SelectorQuery, tuple[str, ...]]:
    """A counter given without a window (OpenSLO ``counter: true``): ``sel`` or ``sum [by (..)] (sel)``."""
    m = _SUM_OF_SELECTOR_RE.match(text)
    if m:
        by = m.group(1) if m.group(1) is not None else m.group(3)
        labels = tuple(x.strip() for x in (by or "").split(",") if x.strip())
        return SelectorQuery(parse_selector(m.group(2))), labels
    return SelectorQuery(parse_selector(text)), ()
