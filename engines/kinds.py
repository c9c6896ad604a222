"""Bounded descriptions of a statement for metrics and spans: its kind and a summary without literals.

The kind is a label value of ``engine_query_duration_seconds`` (node) and of
``gateway_request_duration_seconds`` (gateway), so it must come from the contract's small set whatever
the client sends. A client may hint it; otherwise a cheap look at the statement decides (no second
parse: this runs on every query). Node and gateway share this one classifier, so that a latency SLO
per kind at the gateway and the node's per-kind histogram speak of the same queries; the node knows
the statement type from DuckDB's parser, the gateway guesses it from the first keyword
(:func:`guess_operation`).
"""

from __future__ import annotations

import re

from exporters.contract import QUERY_KINDS

_WRITE_OPERATIONS = frozenset({"INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "COPY", "MERGE_INTO"})
_FROM = re.compile(r"\bFROM\s+([A-Za-z_][\w.]*)", re.IGNORECASE)
_JOIN = re.compile(r"\bJOIN\b|\bFROM\s+[\w.]+(?:\s+(?:AS\s+)?\w+)?\s*,", re.IGNORECASE)
_AGGREGATE = re.compile(r"\bGROUP\s+BY\b|\b(?:COUNT|SUM|AVG|MIN|MAX|ANY_VALUE|APPROX_COUNT_DISTINCT)\s*\(",
                        re.IGNORECASE)
# An equality on a key column: the point lookups of a warehouse (order by id, customer by id).
_KEY_LOOKUP = re.compile(r"\b\w*key\s*=\s*\d", re.IGNORECASE)


def classify(sql: str, operation: str, hint: str | None = None) -> str:
    """``operation`` is the statement type (``SELECT``, ``INSERT``...); ``hint`` the client's kind."""
    if hint in QUERY_KINDS:
        return hint
    if operation in _WRITE_OPERATIONS:
        return "write"
    if operation != "SELECT" or not _FROM.search(sql):
        return "other"
    if _JOIN.search(sql):
        return "join"
    if _AGGREGATE.search(sql):
        return "aggregate"
    if _KEY_LOOKUP.search(sql):
        return "lookup"
    return "scan"


# Leading comments and parentheses before the first keyword: "/* c */ (SELECT 1)" is a SELECT.
_LEADING = re.compile(r"\A(?:\s+|--[^\n]*\n?|/\*.*?\*/|\()*", re.S)
_WORD = re.compile(r"[A-Za-z_]+")
#: First keywords of statements that DuckDB's parser calls SELECT (FROM-first, CTEs, VALUES, TABLE).
_SELECT_WORDS = frozenset({"SELECT", "WITH", "FROM", "VALUES", "TABLE"})


def guess_operation(sql: str) -> str:
    """The statement type from the first keyword, where no parser is at hand (the gateway).

    A CTE wrapping DML reads as SELECT here and as the DML at the node: the gateway's label errs
    towards a read, which is what a CTE almost always is.
    """
    match = _WORD.match(sql, _LEADING.match(sql).end())  # type: ignore[union-attr]  # \A(...)* always matches
    if match is None:
        return "UNKNOWN"
    word = match.group().upper()
    return "SELECT" if word in _SELECT_WORDS else word


def summary(sql: str, operation: str) -> str:
    """``db.query.summary`` of the semantic conventions: operation and first table, never literals."""
    match = _FROM.search(sql)
    return f"{operation} {match.group(1)}" if match else operation
