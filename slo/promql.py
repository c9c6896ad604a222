"""The SLO model's event queries: a structured *selector* query, or a free-form *template*.

A selector query (``sum by (...) (rate(<selector>[<window>]))`` built around a selector) lets us
synthesize test input and backtest history for it; a template, in Sloth's style, has ``{{.window}}``
where the range goes and is used as written. Selectors themselves — model, builder, parser — are
foundation.promql's; what is SLO-specific is recognising the simple query shapes worth making structured.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from foundation.promql import Selector, metric_names, parse_selector

WINDOW_RE = re.compile(r"\{\{\s*\.window\s*\}\}")
# sum(rate(<selector>[{{.window}}])) and sum by (a, b) (rate(...)): the forms worth making structured.
# A template is not PromQL until its placeholder is replaced, so its shape is matched on the text; the
# selector inside is then read by the one parser.
_SIMPLE_SUM_RE = re.compile(
    r"^\s*sum\s*(?:by\s*\(([\w\s,]*)\)\s*)?\(\s*rate\s*\(\s*(.+?)\s*\[\s*\{\{\s*\.window\s*\}\}\s*\]\s*\)\s*\)"
    r"\s*(?:by\s*\(([\w\s,]*)\)\s*)?$",
    re.S,
)
_SUM_OF_SELECTOR_RE = re.compile(
    r"^\s*sum\s*(?:by\s*\(([\w\s,]*)\)\s*)?\(\s*([^()\[\]]+?)\s*\)\s*(?:by\s*\(([\w\s,]*)\)\s*)?$", re.S
)
# Any valid range stands in for the placeholder when a template is read as PromQL.
_SOME_WINDOW = "5m"


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


def _grouping(m: re.Match[str]) -> tuple[str, ...]:
    """The ``by`` labels of a sum, written before or after its argument."""
    by = m.group(1) if m.group(1) is not None else m.group(3)
    return tuple(x.strip() for x in (by or "").split(",") if x.strip())


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
        return SelectorQuery(selector), _grouping(m)
    return TemplateQuery(text), None


def selectors_in(text: str) -> list[str]:
    """Metric names that an expression (or a ``{{.window}}`` template) reads, for messages and series synthesis.

    ``ValueError`` if it does not tokenize as PromQL.
    """
    return metric_names(WINDOW_RE.sub(_SOME_WINDOW, text))


def parse_counter_expression(text: str) -> tuple[SelectorQuery, tuple[str, ...]]:
    """A counter given without a window (OpenSLO ``counter: true``): ``sel`` or ``sum [by (..)] (sel)``."""
    m = _SUM_OF_SELECTOR_RE.match(text)
    if m:
        return SelectorQuery(parse_selector(m.group(2))), _grouping(m)
    return SelectorQuery(parse_selector(text)), ()
