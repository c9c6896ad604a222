"""alertmanager.yml: critical alerts page, warnings open a ticket, info stays on the Alertmanager UI.

Both receivers are webhooks whose URLs the deployment gives (a pager bridge, a ticketing bridge); the
committed files carry loopback placeholders so they stay valid for ``amtool check-config``. A page
inhibits the tickets about the same SLO or the same engine: whoever is paged is already looking.
The Watchdog (alerts/meta.py) goes to a receiver of its own, a dead man's switch service that raises
the alarm when its notifications stop, and is repeated often, because its repetition is the signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alerts.yamlfmt import dump
from foundation.process import write_atomic

HERE = Path(__file__).resolve().parent
PLACEHOLDER_PAGE_URL = "http://127.0.0.1:9095/page"
PLACEHOLDER_TICKET_URL = "http://127.0.0.1:9095/ticket"
PLACEHOLDER_WATCHDOG_URL = "http://127.0.0.1:9095/watchdog"
PAGE, TICKET, DEFAULT, WATCHDOG = "page", "ticket", "default", "watchdog"
#: The dead man's switch alert, as alerts/meta.py names it.
WATCHDOG_ALERT = "Watchdog"
#: Severities as the platform alerts and the SLO generator label them.
PAGE_SEVERITY, TICKET_SEVERITY = "critical", "warning"
#: Notifications group per alert and subject: one page per engine, or per SLO (and engine).
GROUP_BY: tuple[str, ...] = ("alertname", "engine", "slo")


@dataclass(frozen=True)
class Timing:
    group_wait: str
    group_interval: str
    repeat_interval: str
    watchdog_repeat: str  # how often the dead man's switch hears from us: its timeout must be longer


TIMINGS: dict[str, Timing] = {
    # Chaos experiments and tests watch a notification arrive within seconds of an alert firing.
    "local": Timing("1s", "5s", "1h", "10s"),
    "production": Timing("30s", "5m", "4h", "1m"),
}
CONFIG_FILES: dict[str, Path] = {
    "production": HERE / "alertmanager.yml",
    "local": HERE / "alertmanager.local.yml",
}
HEADER = "# Generated from alerts/alertmanager.py by `python -m alerts`. DO NOT EDIT.\n"


def _inhibit(subject: str, equal: list[str]) -> dict[str, Any]:
    # Both sides must carry the subject label: Alertmanager treats two missing labels as equal, which
    # would let a page without an engine (a missing scrape job) silence every ticket without one.
    return {
        "source_matchers": [f'severity="{PAGE_SEVERITY}"', f'{subject}=~".+"'],
        "target_matchers": [f'severity="{TICKET_SEVERITY}"', f'{subject}=~".+"'],
        "equal": equal,
    }


def config(page_url: str = PLACEHOLDER_PAGE_URL, ticket_url: str = PLACEHOLDER_TICKET_URL,
           profile: str = "production", watchdog_url: str = PLACEHOLDER_WATCHDOG_URL) -> dict[str, Any]:
    t = TIMINGS[profile]
    return {
        "route": {
            "receiver": DEFAULT,
            "group_by": list(GROUP_BY),
            "group_wait": t.group_wait,
            "group_interval": t.group_interval,
            "repeat_interval": t.repeat_interval,
            "routes": [
                # First: the Watchdog carries severity "none", and must never fall through to a pager.
                {"receiver": WATCHDOG, "matchers": [f'alertname="{WATCHDOG_ALERT}"'],
                 "group_wait": "0s", "group_interval": t.watchdog_repeat, "repeat_interval": t.watchdog_repeat},
                {"receiver": PAGE, "matchers": [f'severity="{PAGE_SEVERITY}"']},
                {"receiver": TICKET, "matchers": [f'severity="{TICKET_SEVERITY}"']},
            ],
        },
        "inhibit_rules": [_inhibit("slo", ["slo", "engine"]), _inhibit("engine", ["engine"])],
        "receivers": [
            {"name": DEFAULT},
            {"name": PAGE, "webhook_configs": [{"url": page_url, "send_resolved": True}]},
            {"name": TICKET, "webhook_configs": [{"url": ticket_url, "send_resolved": True}]},
            {"name": WATCHDOG, "webhook_configs": [{"url": watchdog_url, "send_resolved": False}]},
        ],
    }


def render(page_url: str = PLACEHOLDER_PAGE_URL, ticket_url: str = PLACEHOLDER_TICKET_URL,
           profile: str = "production", watchdog_url: str = PLACEHOLDER_WATCHDOG_URL) -> str:
    return dump(config(page_url, ticket_url, profile, watchdog_url), HEADER)


def write(path: Path, page_url: str, ticket_url: str, profile: str = "local",
          watchdog_url: str = PLACEHOLDER_WATCHDOG_URL) -> Path:
    """Render for a running deployment (e.g. the local stack with its real webhook URLs)."""
    write_atomic(Path(path), render(page_url, ticket_url, profile, watchdog_url))
    return Path(path)
