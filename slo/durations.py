"""Prometheus durations ("5m", "1h30m", "30d") as whole seconds, and back.

Seconds are the model's unit for every window and period, so that burn-rate factors are exact
fractions and never suffer from float rounding.
"""

from __future__ import annotations

import re

_UNITS: dict[str, int] = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)(ms|[wdhms])")
_FORMAT_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def parse_duration(text: str | int) -> int:
    """Whole seconds of a Prometheus duration; ``ValueError`` with the reason otherwise."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration")
    if isinstance(text, int):
        if text <= 0:
            raise ValueError(f"duration must be positive, got {text}")
        return text
    s = str(text).strip()
    if not s or _PART.sub("", s):
        raise ValueError(f"{text!r} is not a duration like 30s, 5m, 1h or 30d")
    total_ms = 0
    for value, unit in _PART.findall(s):
        total_ms += int(value) * (1 if unit == "ms" else _UNITS[unit] * 1000)
    if total_ms <= 0:
        raise ValueError(f"duration must be positive, got {text!r}")
    if total_ms % 1000:
        raise ValueError(f"{text!r}: durations below one second are not supported")
    return total_ms // 1000


def format_duration(seconds: int) -> str:
    """The shortest Prometheus spelling in d/h/m/s (30d, 1h30m, 90s stays 1m30s)."""
    if seconds <= 0:
        raise ValueError(f"duration must be positive, got {seconds}")
    parts = []
    rest = seconds
    for unit, size in _FORMAT_UNITS:
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)
