"""What a deployment may change in the dashboards; everything else is fixed by the code."""

from __future__ import annotations

from dataclasses import dataclass

from dashboards.links import DEFAULT_RUNBOOK_BASE_URL, Links


@dataclass(frozen=True)
class Settings:
    #: Where runbooks/<AlertName>.md are browsable.
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL
    #: The window profile the SLO rules were generated with (``slo.windows``: "local" under
    #: ``enginewatch up``); None gives each SLO its own default, as ``enginewatch slo generate`` does.
    slo_profile: str | None = None

    @property
    def links(self) -> Links:
        return Links(self.runbook_base_url)
