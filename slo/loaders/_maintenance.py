"""``maintenance:`` of an enginewatch/v1 spec: declared windows, shared by the file's SLOs or per SLO.

A window is ``start`` (RFC 3339 with a timezone) and ``end`` or ``duration``, with a ``reason``;
``engine`` narrows it to one engine's series. A shared window with an engine applies to the file's
SLOs that are split by engine and leaves the others alone; an SLO's own window with an engine that
the SLO is not split by is an error. OpenSLO and Sloth have no such field and we add no vendor
annotation to them: their windows are opened at runtime, through the SLO service.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import AwareDatetime, Field

from foundation.durations import format_duration
from slo.errors import SpecError
from slo.loaders._schema import Strict, duration
from slo.maintenance import MaintenanceWindow, check_scope


class Window(Strict):
    start: AwareDatetime
    end: AwareDatetime | None = None
    duration: str | None = None
    reason: str = Field(min_length=1)
    engine: str | None = Field(default=None, min_length=1)


def window(raw: Window, *, file: str, slo: str | None, field: str) -> MaintenanceWindow:
    if (raw.end is None) == (raw.duration is None):
        raise SpecError("exactly one of end and duration is required", file=file, slo=slo, field=field)
    start = math.floor(raw.start.timestamp())
    if raw.duration is not None:
        end = start + duration(raw.duration, file=file, slo=slo, field=f"{field}.duration")
    else:
        assert raw.end is not None
        end = math.ceil(raw.end.timestamp())
    try:
        return MaintenanceWindow(start, end, raw.reason, raw.engine)
    except ValueError as exc:
        raise SpecError(str(exc), file=file, slo=slo, field=f"{field}.end") from None


def windows(shared: Sequence[Window], own: Sequence[Window], group_by: Sequence[str], *, file: str, slo: str,
            where: str) -> tuple[MaintenanceWindow, ...]:
    """The SLO's windows: the file's shared ones that fit its grouping, then its own (checked)."""
    out = []
    for i, raw in enumerate(shared):
        w = window(raw, file=file, slo=None, field=f"maintenance[{i}]")
        if check_scope(w, group_by) is None:
            out.append(w)
    for i, raw in enumerate(own):
        field = f"{where}.maintenance[{i}]"
        w = window(raw, file=file, slo=slo, field=field)
        if (why := check_scope(w, group_by)) is not None:
            raise SpecError(why, file=file, slo=slo, field=f"{field}.engine")
        out.append(w)
    return tuple(out)


def render(w: MaintenanceWindow) -> dict[str, object]:
    from slo.maintenance import iso

    item: dict[str, object] = {"start": iso(w.start), "duration": format_duration(w.end - w.start),
                               "reason": w.reason}
    if w.engine:
        item["engine"] = w.engine
    return item
