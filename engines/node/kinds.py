"""Bounded descriptions of a statement for metrics and spans: its kind and a summary without literals.

The kind is a label value of ``engine_query_duration_seconds``, so it must come from the contract's
small set whatever the client sends. A client may hint it; otherwise a cheap look at the statement
decides (no second parse: this runs on every query).
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


def summary(sql: str, operation: str) -> str:
    """``db.query.summary`` of the semantic conventions: operation and first table, never literals."""
    match = _FROM.search(sql)
    return f"{operation} {match.group(1)}" if match else operation
