"""The one duration grammar of the project: Prometheus' own, everywhere a person types a duration.

``1y2w3d4h5m6s7ms``: each unit at most once, largest first (y = 365d, w = 7d, as Prometheus counts).
A bare number is seconds (``30``, ``2.5``), as an option such as ``--duration 30`` reads naturally.
CLI options, experiment steps, SLO specs and schema patterns all use this module, so ``1d`` or
``1h30m`` means the same thing in every file and flag.
"""

from __future__ import annotations

import re

_UNITS_MS: dict[str, int] = {
    "y": 365 * 86_400_000, "w": 7 * 86_400_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000,
    "ms": 1,
}
#: The grammar as a regular expression, for JSON Schema ``pattern`` fields (anchored, no bare numbers).
PATTERN = r"^([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$"
_PROMETHEUS = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?")
_NUMBER = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_ORDER = ("y", "w", "d", "h", "m", "s", "ms")
EXAMPLES = "30s, 5m, 1h30m, 1d or 500ms"


def parse_ms(text: str | int | float) -> int:
    """Whole milliseconds of a duration; ``ValueError`` saying why otherwise. Zero is allowed."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration like {EXAMPLES}")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"a duration cannot be negative, got {text!r}")
        return round(text * 1000)
    s = str(text).strip()
    if _NUMBER.fullmatch(s):
        return round(float(s) * 1000)
    match = _PROMETHEUS.fullmatch(s)
    if not s or match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration like {EXAMPLES}")
    return sum(int(v) * _UNITS_MS[u] for v, u in zip(match.groups(), _ORDER, strict=True) if v)


def parse_duration(text: str | int | float, *, allow_zero: bool = False) -> float:
    """Seconds (a float: ``500ms`` is 0.5) of a positive duration."""
    ms = parse_ms(text)
    if ms == 0 and not allow_zero:
        raise ValueError(f"a duration must be positive, got {text!r}")
    return ms / 1000


def parse_seconds(text: str | int) -> int:
    """Whole seconds of a positive duration, for windows and periods that must be exact."""
    ms = parse_ms(text)
    if ms <= 0:
        raise ValueError(f"a duration must be positive, got {text!r}")
    if ms % 1000:
        raise ValueError(f"{text!r}: durations below one second are not supported here")
    return ms // 1000


def format_duration(seconds: float) -> str:
    """The shortest Prometheus spelling in d/h/m/s/ms (``30d``, ``1h30m``, ``90s`` is ``1m30s``).

    Weeks and years are left out on purpose: ``28d`` reads better than ``4w`` in an SLO period.
    """
    ms = round(seconds * 1000)
    if ms <= 0:
        raise ValueError(f"a duration must be positive, got {seconds!r}")
    parts = []
    for unit in ("d", "h", "m", "s", "ms"):
        size = _UNITS_MS[unit]
        if ms >= size:
            parts.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(parts)
