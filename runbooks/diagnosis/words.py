"""Numbers and times in the words on-call reads: "95%", "4 times", "2m10s ago"."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable


def pct(ratio: float) -> str:
    if math.isnan(ratio):
        return "n/a"
    return f"{ratio * 100:.0f}%" if ratio >= 0.01 or ratio == 0 else f"{ratio * 100:.2g}%"


def count(value: float) -> int:
    """A counter increase as a whole number: increase() extrapolates, 3 restarts may read 3.05."""
    return 0 if math.isnan(value) else int(round(value))


def times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{s:02d}s" if s else f"{minutes}m"
    hours, m = divmod(minutes, 60)
    return f"{hours}h{m:02d}m"


def ago(ts: float, now: float | None = None) -> str:
    return duration((now or time.time()) - ts) + " ago"


def listing(items: Iterable[str]) -> str:
    items = list(items)
    return ", ".join(items) if items else "none"

