"""When the gateway may send a query again, to which outcomes, and how long it waits in between.

A retry runs the statement twice when the first attempt did reach the node, so only statements
that are safe to run twice are retried: a single read-only statement, or any statement the client
marked with an idempotency key. The classification fails closed: whatever the lexer is not sure
about counts as a write.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from engines.gateway.attempt import AttemptResult, Outcome

#: First keywords of statements that only read (DuckDB dialect; FROM-first and SUMMARIZE included).
READ_FIRST_WORDS = frozenset({
    "select", "with", "show", "describe", "desc", "explain", "values", "from", "summarize", "table",
})
#: Words that may change state anywhere in a statement (CTEs can wrap DML, EXPLAIN ANALYZE runs it,
#: nextval advances a sequence). A column that happens to carry one of these names costs the query
#: its retries, never its correctness.
WRITE_WORDS = frozenset({
    "insert", "update", "delete", "merge", "upsert", "create", "drop", "alter", "truncate", "copy",
    "attach", "detach", "install", "load", "set", "reset", "pragma", "call", "export", "import",
    "checkpoint", "vacuum", "begin", "commit", "rollback", "abort", "transaction", "grant", "revoke",
    "use", "nextval", "setval",
})

_TOKENS = re.compile(
    r"""
      (?P<skip> --[^\n]*                      # line comment
              | /\*.*?\*/                     # block comment
              | '[^']*(?:''[^']*)*'           # string literal
              | "[^"]*(?:""[^"]*)*"           # quoted identifier
              | \$\$.*?\$\$                   # dollar-quoted string
              | \$(?P<tag>[A-Za-z_]\w*)\$.*?\$(?P=tag)\$  # tagged dollar-quoted string
      )
    | (?P<word> [A-Za-z_][A-Za-z0-9_$]* )
    | (?P<semi> ; )
    | (?P<open> ['"] | /\* | \$[A-Za-z_]*\$ )  # an opening nothing above could close
    """,
    re.S | re.X,
)


def is_read_only(sql: str) -> bool:
    """A single statement that reads only. Fails closed: unsure means False."""
    if "\\" in sql:
        # Backslash escapes (E'...') make string boundaries ambiguous; a write could hide in one.
        return False
    first: str | None = None
    ended = False
    for m in _TOKENS.finditer(sql):
        kind = m.lastgroup
        if kind == "skip":
            continue
        if kind == "open":
            return False
        if kind == "semi":
            ended = True
            continue
        if ended:
            return False  # a second statement
        word = m.group("word").lower()
        if word in WRITE_WORDS:
            return False
        if first is None:
            first = word
    return first is not None and first in READ_FIRST_WORDS


def may_retry(sql: str, idempotency_key: str | None) -> bool:
    return bool(idempotency_key) or is_read_only(sql)


def is_retriable(result: AttemptResult) -> bool:
    """Outcomes after which another node can still give the client its answer."""
    if result.outcome in (Outcome.REFUSED, Outcome.ABANDONED):
        return True
    if result.outcome == Outcome.NODE_ERROR:
        # 503: draining or overloaded, nothing ran. 500 canceled: the node gave up on it (drain
        # grace expired), the statement is fine — unless an operator killed it: the node then says
        # it is not retriable, and running it again elsewhere would undo the kill.
        if result.node_retriable is False:
            return False
        return result.status == 503 or (result.status == 500 and result.error_type == "canceled")
    return False


@dataclass
class Backoff:
    """Exponential backoff with full jitter (AWS architecture blog): sleep U(0, min(cap, base·2ⁿ)).

    Retries go to another node, so the base is small; the jitter keeps a burst of failed queries
    from coming back in lockstep.
    """

    base_s: float = 0.01
    cap_s: float = 0.5
    rng: Callable[[], float] = field(default=random.random)

    def delay(self, retry: int) -> float:
        """Sleep before retry number ``retry`` (1 for the first retry)."""
        return self.rng() * min(self.cap_s, self.base_s * 2 ** max(0, retry - 1))


@dataclass
class RetryPolicy:
    max_attempts: int = 4
    backoff: Backoff = field(default_factory=Backoff)
