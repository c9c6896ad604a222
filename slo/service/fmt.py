"""Numbers as on-call reads them. A missing value is always the words "no data", never 100% or NaN."""

from __future__ import annotations

import math

NO_DATA = "no data"


def percent(value: float | None, digits: int = 2) -> str:
    """0.99953 → "99.95%"; keeps enough digits that 99.999% never rounds up to 100%."""
    if value is None or not math.isfinite(value):
        return NO_DATA
    pct = value * 100
    text = f"{pct:.{digits}f}"
    # A value just below 100 must not read as 100: show more digits until it does not.
    while float(text) == 100 and value < 1 and digits < 6:
        digits += 1
        text = f"{pct:.{digits}f}"
    return f"{text}%"


def objective(value: float) -> str:
    return f"{value * 100:g}%"


def burn(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return NO_DATA
    return f"{value:.2f}×" if value < 10 else f"{value:.1f}×"


_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def duration(seconds: float | None, *, parts: int = 2) -> str:
    """3725 → "1h 2m"; the largest two units are precise enough for a time to exhaustion."""
    if seconds is None or not math.isfinite(seconds):
        return NO_DATA
    if seconds < 1:
        return "now"
    rest = int(seconds)
    out = []
    for unit, size in _UNITS:
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
        if len(out) == parts:
            break
    return " ".join(out)
