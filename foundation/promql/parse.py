"""Reading PromQL back: a vector selector into the model, and the selectors an expression uses.

Both read the token stream of ``syntax``, so a spec's selector and a dashboard panel's expression are
read by the same rules (strings, escapes, Grafana variables, comments).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from foundation.promql.model import MATCH_OPS, Matcher, MatchOp, Selector, unquote
from foundation.promql.syntax import PromQLSyntaxError, Token, matching, tokenize

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_EXAMPLE = 'metric{label="value"}'

# After these, a parenthesis holds label names, not an expression.
_LABEL_LIST_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_GROUPING = frozenset({"by", "without"})  # an aggregation may take these before its argument list
_KEYWORDS = _LABEL_LIST_KEYWORDS | frozenset({"bool", "offset", "and", "or", "unless", "atan2", "inf", "nan"})


def parse_selector(text: str) -> Selector:
    """``metric{a="b",c=~"d"}`` (or ``{__name__="metric",...}``); ``ValueError`` naming the problem otherwise.

    Regexes are compiled here, so a bad one fails where the spec is read rather than in Prometheus.
    """
    try:
        tokens = tokenize(text)
        pairs = matching(tokens)
    except PromQLSyntaxError as exc:
        raise PromQLSyntaxError(f"{text!r} is not a vector selector like {_EXAMPLE}: {exc}") from None
    i, metric = 0, ""
    if tokens and tokens[0].kind == "identifier":
        metric, i = tokens[0].text, 1
    matchers: list[Matcher] = []
    if i < len(tokens) and tokens[i].is_bracket("{"):
        close = pairs[i]
        end = tokens[close].pos
        for m in _matchers(tokens[i + 1:close], text, end):
            if m.name == "__name__" and m.op == "=":
                metric = metric or m.value  # the name written before the braces wins, as in Prometheus
            else:
                matchers.append(m)
        i = close + 1
    if i < len(tokens):
        raise PromQLSyntaxError(f"{text!r} is not a vector selector like {_EXAMPLE}")
    if not metric:
        raise PromQLSyntaxError(f"{text!r} has no metric name")
    for m in matchers:
        if m.is_regex:
            try:
                re.compile(m.value)
            except re.error as exc:
                raise PromQLSyntaxError(f"bad regex {m.value!r} for label {m.name}: {exc}") from exc
    return Selector(metric, tuple(matchers))


def _matchers(body: list[Token], text: str, end: int) -> Iterator[Matcher]:
    """The matchers between a selector's braces: ``name op "value"``, comma-separated, a trailing comma allowed."""
    j = 0
    while j < len(body):
        triple = body[j:j + 3]
        if not _is_matcher(triple) or (j + 3 < len(body) and body[j + 3].text != ","):
            raise PromQLSyntaxError(f"cannot parse label matchers {text[body[j].pos:end]!r} in {text!r}")
        name, op, value = triple
        yield Matcher(name.text, cast(MatchOp, op.text), unquote(value.text))
        j += 4  # the matcher and its comma


def _is_matcher(tokens: list[Token]) -> bool:
    return (len(tokens) == 3 and tokens[0].kind == "identifier" and _LABEL_NAME.fullmatch(tokens[0].text) is not None
            and tokens[1].text in MATCH_OPS and tokens[2].kind == "string")


@dataclass(frozen=True)
class SelectorUse:
    """A series an expression selects by name, where it sits: e.g. ``foo_total`` in ``rate(foo_total{a="b"}[5m])``."""

    metric: str
    #: The text inside the range brackets, e.g. ``$__rate_interval``; None for an instant selector.
    range: str | None
    #: The function whose argument list the selector sits in directly, e.g. ``rate``; None at top
    #: level or in plain parentheses.
    function: str | None


def selector_uses(expr: str) -> Iterator[SelectorUse]:
    """Every selector of a series by name, with its range and directly enclosing function."""
    tokens = tokenize(expr)
    pairs = matching(tokens)
    # Open parentheses, each with the function it calls (None for grouping) and whether it is a
    # label list; a selector is "inside" a function only when that call is the innermost one.
    parens: list[tuple[str | None, bool]] = []
    skip_until = -1
    for i, tok in enumerate(tokens):
        if i <= skip_until:
            continue
        prev = tokens[i - 1] if i else None
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.is_bracket("("):
            callee = prev.text if prev is not None and prev.kind == "identifier" else None
            parens.append((callee, callee in _LABEL_LIST_KEYWORDS))
        elif tok.is_bracket(")"):
            parens.pop()
        elif tok.is_bracket("{") or tok.is_bracket("["):
            skip_until = pairs[i]  # label matchers, or a range: no series inside
        elif tok.kind == "identifier" and tok.text not in _KEYWORDS:
            in_label_list = bool(parens) and parens[-1][1]
            if in_label_list or (nxt is not None and (nxt.text == "(" or nxt.text in _GROUPING)):
                continue  # a label name, or a function/aggregation being called
            end = pairs[i + 1] if nxt is not None and nxt.is_bracket("{") else i
            yield SelectorUse(tok.text, _range(tokens, pairs, end + 1), parens[-1][0] if parens else None)


def _range(tokens: list[Token], pairs: dict[int, int], i: int) -> str | None:
    """The range text if a range selector (not a subquery) opens at token i."""
    if i >= len(tokens) or not tokens[i].is_bracket("["):
        return None
    inner = tokens[i + 1:pairs[i]]
    if any(t.text == ":" for t in inner):
        return None  # a subquery's [range:step]
    return "".join(t.text for t in inner)


def metric_names(expr: str) -> list[str]:
    """Names of the series an expression reads, in order (``PromQLSyntaxError`` if it does not tokenize)."""
    return [use.metric for use in selector_uses(expr)]
