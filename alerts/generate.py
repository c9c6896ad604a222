"""The committed artifacts of alerts/ and their sources: rule files, promtool tests, alertmanager.yml."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alerts import alertmanager, platform, unittests
from foundation.process import write_atomic


def artifacts() -> dict[Path, Callable[[], str]]:
    out: dict[Path, Callable[[], str]] = {}
    for profile, path in platform.RULE_FILES.items():
        out[path] = lambda p=profile: platform.render(p)  # type: ignore[misc]
    for profile, path in unittests.TEST_FILES.items():
        out[path] = lambda p=profile: unittests.render(p)  # type: ignore[misc]
    for profile, path in alertmanager.CONFIG_FILES.items():
        out[path] = lambda p=profile: alertmanager.render(profile=p)  # type: ignore[misc]
    return out


def write_all() -> list[Path]:
    written = []
    for path, render in artifacts().items():
        write_atomic(path, render())
        written.append(path)
    return written


def stale() -> list[Path]:
    return [path for path, render in artifacts().items()
            if not path.exists() or path.read_text() != render()]
