"""PromQL as tokens with their brackets matched: the one lexer that every parser of the project uses.

Whether an expression is valid PromQL at all is Prometheus' call (promtool parses it with Prometheus'
own parser). What the project needs from an expression on this side — the selector a spec wrote, the
series a dashboard panel reads and through which function — needs only tokens and the bracket tree.
Grafana variables stay tokens of their own, so a range can be checked for ``$__rate_interval`` itself
rather than for whatever value it was replaced with.
"""

from __future__ import annotations

import re
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

OPEN: dict[str, str] = {"(": ")", "{": "}", "[": "]"}


class PromQLSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int

    def is_bracket(self, text: str) -> bool:
        return self.kind == "bracket" and self.text == text


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


def matching(tokens: list[Token]) -> dict[int, int]:
    """Index of each opening bracket -> index of its closing one; ``PromQLSyntaxError`` when unbalanced."""
    stack: list[int] = []
    pairs: dict[int, int] = {}
    for i, tok in enumerate(tokens):
        if tok.kind != "bracket":
            continue
        if tok.text in OPEN:
            stack.append(i)
        elif not stack or OPEN[tokens[stack[-1]].text] != tok.text:
            raise PromQLSyntaxError(f"unbalanced {tok.text!r} at {tok.pos}")
        else:
            pairs[stack.pop()] = i
    if stack:
        raise PromQLSyntaxError(f"unclosed {tokens[stack[-1]].text!r} at {tokens[stack[-1]].pos}")
    return pairs
