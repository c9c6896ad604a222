"""Shared plumbing for spec loaders: strict pydantic schemas whose errors name file, SLO and field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from foundation.durations import parse_seconds
from foundation.promql import parse_selector
from slo.errors import SpecError
from slo.promql import Query, SelectorQuery, parse_window_template

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Unknown keys are errors: a typo in a spec must not silently disable a feature."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


def field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def slo_name_at(data: Any, loc: tuple[int | str, ...], list_key: str = "slos") -> str | None:
    """The ``name`` of the SLO an error location points into, when the raw data has it."""
    node = data
    for i, part in enumerate(loc):
        if part == list_key and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            try:
                item = node[part][loc[i + 1]]
            except (KeyError, IndexError, TypeError):
                return None
            return item.get("name") if isinstance(item, dict) else None
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return None


def validate(model: type[M], data: Any, *, file: str, prefix: str = "", slo: str | None = None) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        path = field_path(loc)
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        reason = err["msg"]
        if err["type"] == "extra_forbidden":
            reason = "unknown field"
        elif err["type"] == "missing":
            reason = "required field is missing"
        raise SpecError(reason, file=file, slo=slo or slo_name_at(data, loc), field=path or None) from None


def duration(value: str | int, *, file: str, slo: str | None, field: str) -> int:
    try:
        return parse_seconds(value)
    except ValueError as exc:
        raise SpecError(str(exc), file=file, slo=slo, field=field) from None


def query(text: str, *, file: str, slo: str | None, field: str) -> tuple[Query, tuple[str, ...] | None]:
    """A selector (``metric{...}``) or a ``{{.window}}`` template, made structured when it is simple."""
    try:
        if "{{" in text:
            return parse_window_template(text)
        return SelectorQuery(parse_selector(text)), None
    except ValueError as exc:
        raise SpecError(str(exc), file=file, slo=slo, field=field) from None


def window_query(text: str, *, file: str, slo: str | None,
                 field: str) -> tuple[Query, tuple[str, ...] | None]:
    """A ``{{.window}}`` template, as Sloth requires for every SLI query."""
    try:
        return parse_window_template(text)
    except ValueError as exc:
        raise SpecError(str(exc), file=file, slo=slo, field=field) from None
