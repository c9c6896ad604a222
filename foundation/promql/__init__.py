"""PromQL, built and read in one place: one selector model, one contract-checked builder, one parser.

    Matcher, Selector              a vector selector as data; quoting and Prometheus matching semantics
    selector(metric, part, *m)     a Selector of a contract metric, its labels and values checked
    sel(metric, part, **labels)    the same as PromQL text, operators as value prefixes (``~``, ``!``, ``!~``)
    labels_of, check_labels        the labels a series of a metric carries in Prometheus
    UP, JOB, LE, JOBS, by, on      Prometheus' own names, each component's scrape job, grouping clauses
    parse_selector(text)           text back into a Selector (``ValueError`` naming the problem)
    selector_uses(expr)            each series an expression reads, with its range and enclosing function
    tokenize(expr)                 the lexer both parsers share
"""

from foundation.promql.build import (
    INSTANCE,
    JOB,
    JOBS,
    LE,
    SCRAPE_LABELS,
    UP,
    Part,
    by,
    check_labels,
    labels_of,
    matcher,
    on,
    sel,
    selector,
    series_name,
    up,
)
from foundation.promql.model import MATCH_OPS, Matcher, MatchOp, Selector, quote, unquote
from foundation.promql.parse import SelectorUse, metric_names, parse_selector, selector_uses
from foundation.promql.syntax import PromQLSyntaxError, Token, tokenize

__all__ = [
    "INSTANCE", "JOB", "JOBS", "LE", "MATCH_OPS", "SCRAPE_LABELS", "UP",
    "MatchOp", "Matcher", "Part", "PromQLSyntaxError", "Selector", "SelectorUse", "Token",
    "by", "check_labels", "labels_of", "matcher", "metric_names", "on", "parse_selector", "quote", "sel",
    "selector", "selector_uses", "series_name", "tokenize", "unquote", "up",
]
