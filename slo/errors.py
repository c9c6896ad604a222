"""Errors a user can fix: a bad spec, a feature we do not support, an unreachable data source.

The CLI prints them on one line and exits 2; they never carry a stack trace to the user.
"""

from __future__ import annotations

from foundation.prometheus import PrometheusUnavailable


class SpecError(ValueError):
    """An SLO spec that cannot be turned into rules, located precisely enough to fix it."""

    def __init__(self, reason: str, *, file: str | None = None, slo: str | None = None,
                 field: str | None = None) -> None:
        self.file = file
        self.slo = slo
        self.field = field
        self.reason = reason
        super().__init__(self.render())

    def render(self) -> str:
        where = [p for p in (self.file, f"SLO {self.slo!r}" if self.slo else None, self.field) if p]
        return ": ".join([*where, self.reason])

    def located(self, *, file: str | None = None, slo: str | None = None,
                field_prefix: str | None = None) -> SpecError:
        """The same error with the location filled in by an outer layer that knows more."""
        field = self.field
        if field_prefix:
            field = f"{field_prefix}.{field}" if field else field_prefix
        return type(self)(self.reason, file=self.file or file, slo=self.slo or slo, field=field)


class NotSupportedError(SpecError):
    """A valid spec that uses a feature enginewatch does not implement (named in the reason)."""


# Prometheus could not be queried (unreachable, timeout, bad answer): the shared client's own error
# under slo's name, so slo, the SLO service and the CLI catch one exception whoever made the query.
DataSourceError = PrometheusUnavailable
