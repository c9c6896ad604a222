"""Just enough PromQL structure for the linter: which series are selected, with which range, inside
which function call.

Whether an expression parses at all is promtool's call (dashboards/promtool.py), with Prometheus' own
parser. What promtool cannot tell — is this counter read through rate()? is that range
$__rate_interval? — needs the tree around each selector, and a token stream with its brackets
matched gives exactly that. Grafana variables stay tokens of their own, so a range can be checked
for ``$__rate_interval`` itself rather than for whatever value it was replaced with.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_TOKEN = re.compile(r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<variable>\$\{[^}]*\}|\$\w+|\[\[\w+(?::\w+)?\]\])
  | (?P<duration>(?:\d+(?:ms|s|m|h|d|w|y))+(?![\w.]))
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<identifier>:?[A-Za-z_][A-Za-z0-9_:]*)
  | (?P<operator>=~|!~|!=|==|<=|>=|[-+*/%^<>=@])
  | (?P<bracket>[(){}\[\]])
  | (?P<punct>[,:])
""", re.VERBOSE)

_OPEN = {"(": ")", "{": "}", "[": "]"}
# After these, a parenthesis holds label names, not an expression.
_LABEL_LIST_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_GROUPING = frozenset({"by", "without"})  # an aggregation may take these before its argument list
_KEYWORDS = _LABEL_LIST_KEYWORDS | frozenset({"bool", "offset", "and", "or", "unless", "atan2", "inf", "nan"})


class PromQLSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int


@dataclass(frozen=True)
class Selector:
    """A series selected by name, e.g. ``rate(foo_total{a="b"}[5m])``."""

    metric: str
    #: The text inside the range brackets, e.g. ``$__rate_interval``; None for an instant selector.
    range: str | None
    #: The function whose argument list the selector sits in directly, e.g. ``rate``; None at top
    #: level or in plain parentheses.
    function: str | None


def tokenize(expr: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if not match or match.lastgroup is None:
            raise PromQLSyntaxError(f"unexpected character {expr[pos]!r} at {pos}")
        if match.lastgroup != "space":
            tokens.append(Token(match.lastgroup, match.group(), pos))
        pos = match.end()
    return tokens


def _matching(tokens: list[Token]) -> dict[int, int]:
    """Index of each opening bracket -> index of its closing one."""
    stack: list[int] = []
    pairs: dict[int, int] = {}
    for i, tok in enumerate(tokens):
        if tok.kind != "bracket":
            continue
        if tok.text in _OPEN:
            stack.append(i)
        elif not stack or _OPEN[tokens[stack[-1]].text] != tok.text:
            raise PromQLSyntaxError(f"unbalanced {tok.text!r} at {tok.pos}")
        else:
            pairs[stack.pop()] = i
    if stack:
        raise PromQLSyntaxError(f"unclosed {tokens[stack[-1]].text!r} at {tokens[stack[-1]].pos}")
    return pairs


def selectors(expr: str) -> Iterator[Selector]:
    """Every selector of a series by name, with its range and directly enclosing function."""
    tokens = tokenize(expr)
    pairs = _matching(tokens)
    # Open parentheses, each with the function it calls (None for grouping) and whether it is a
    # label list; a selector is "inside" a function only when that call is the innermost one.
    parens: list[tuple[str | None, bool]] = []
    skip_until = -1
    for i, tok in enumerate(tokens):
        if i <= skip_until:
            continue
        prev = tokens[i - 1] if i else None
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.text == "(" and tok.kind == "bracket":
            callee = prev.text if prev is not None and prev.kind == "identifier" else None
            parens.append((callee, callee in _LABEL_LIST_KEYWORDS))
        elif tok.text == ")" and tok.kind == "bracket":
            parens.pop()
        elif tok.text in "{[" and tok.kind == "bracket":
            skip_until = pairs[i]  # label matchers, or a range: no series inside
        elif tok.kind == "identifier" and tok.text not in _KEYWORDS:
            in_label_list = bool(parens) and parens[-1][1]
            if in_label_list or (nxt is not None and (nxt.text == "(" or nxt.text in _GROUPING)):
                continue  # a label name, or a function/aggregation being called
            end = pairs[i + 1] if nxt is not None and nxt.text == "{" else i
            yield Selector(tok.text, _range(tokens, pairs, end + 1), parens[-1][0] if parens else None)


def _range(tokens: list[Token], pairs: dict[int, int], i: int) -> str | None:
    """The range text if a range selector (not a subquery) opens at token i."""
    if i >= len(tokens) or tokens[i].text != "[" or tokens[i].kind != "bracket":
        return None
    inner = tokens[i + 1:pairs[i]]
    if any(t.text == ":" for t in inner):
        return None  # a subquery's [range:step]
    return "".join(t.text for t in inner)
