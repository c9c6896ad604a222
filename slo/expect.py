"""The alerts Prometheus will fire for the generated rules on synthetic input, computed exactly.

The generated promtool tests assert whole alerts (labels, and annotations with the burn rate in
them), so the generator has to know them beforehand. This evaluates the SLO *model* the way
Prometheus 2.42 evaluates the rules generated from it — every group at every evaluation, range
selectors closed at both ends, ``rate()`` with its extrapolation, ``for`` — in exact fractions, for
the selector SLIs that ``slo.synth`` can feed. promtool then checks that both agree: an independent
second computation of every number the alerts carry.

Where floating point could tip a comparison or a rounded value (a quantity within 1e-9 of its
threshold or of a rounding boundary), it refuses with ``Ambiguous`` rather than guess.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from foundation.durations import parse_seconds
from slo import series
from slo.model import SLO, EventsSLI, Tier
from slo.promql import SelectorQuery
from slo.rules import BUDGET_ALERTS, BUDGET_EXHAUSTED_ALERT, NO_DATA_ALERT, SLORules, guard_events
from slo.synth import CannotSynthesize, CounterSeries, counter_runs, counter_values

Group = tuple[tuple[str, str], ...]  # grouping labels with non-empty values, sorted
_EXTRAPOLATION_THRESHOLD = Fraction(11, 10)  # Prometheus: 1.1 × the average sample spacing
_TOLERANCE = Fraction(1, 10**9)


class Ambiguous(ValueError):
    """A predicted value lies so close to a threshold or rounding boundary that floats may differ."""


@dataclass(frozen=True)
class Input:
    """One input series of a promtool test: a counter through phases of constant rate, then gone."""

    series: CounterSeries
    phases: tuple[tuple[int, Fraction], ...]  # (samples, events per second)
    missing: int = 0  # samples missing at the end: the series vanished

    def promtool(self, scrape: int) -> dict[str, str]:
        values = counter_values(list(self.phases), scrape)
        if self.missing:
            values += f" _x{self.missing}"
        return {"series": self.series.promql(), "values": values}

    def samples(self, scrape: int) -> list[tuple[int, Fraction]]:
        """(time, value) as promtool expands ``promtool()``'s notation."""
        values = [start + inc * i for start, inc, n in counter_runs(list(self.phases), scrape) for i in range(n)]
        return [(k * scrape, v) for k, v in enumerate(values)]


@dataclass(frozen=True)
class Alert:
    name: str
    labels: dict[str, str]  # as on the alert, without alertname (promtool adds it)
    annotations: dict[str, str]

    def promtool(self) -> dict[str, Any]:
        return {"exp_labels": dict(sorted(self.labels.items())), "exp_annotations": self.annotations}


def _rate(samples: list[tuple[int, Fraction]], times: list[int], at: int, window: int) -> Fraction | None:
    """Prometheus 2.x ``rate(counter[window])`` at ``at`` (extrapolatedRate), exactly."""
    lo, hi = bisect.bisect_left(times, at - window), bisect.bisect_right(times, at)
    inside = samples[lo:hi]
    if len(inside) < 2:
        return None
    result = inside[-1][1] - inside[0][1]
    last = Fraction(0)
    for _, v in inside:  # counter resets
        if v < last:
            result += last
        last = v
    to_start = Fraction(inside[0][0] - (at - window))
    to_end = Fraction(at - inside[-1][0])
    sampled = Fraction(inside[-1][0] - inside[0][0])
    average = sampled / (len(inside) - 1)
    if result > 0 and inside[0][1] >= 0:
        to_start = min(to_start, sampled * inside[0][1] / result)
    threshold = average * _EXTRAPOLATION_THRESHOLD
    interval = sampled + (to_start if to_start < threshold else average / 2) + \
        (to_end if to_end < threshold else average / 2)
    return result * interval / sampled / window


def _group(labels: dict[str, str], by: tuple[str, ...]) -> Group:
    return tuple(sorted((k, labels[k]) for k in by if labels.get(k)))


def _check_margin(value: Fraction, threshold: Fraction | float, what: str) -> None:
    t = Fraction(threshold)
    if abs(value - t) <= _TOLERANCE * max(abs(t), Fraction(1)):
        raise Ambiguous(f"{what}: {float(value)!r} is too close to {float(t)!r} to predict in floating point")


_LABEL_REF = re.compile(r"\{\{\s*\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
_VALUE_REF = re.compile(r'\{\{\s*\$value\s*\|\s*printf\s*"%\.(\d)f"\s*\}\}')


def render(template: str, labels: dict[str, str], value: Fraction) -> str:
    """An annotation as Prometheus expands it, for the two constructs the generator writes."""

    def fmt(m: re.Match[str]) -> str:
        digits = int(m.group(1))
        scaled = value * 10**digits
        if abs(scaled - math.floor(scaled) - Fraction(1, 2)) <= _TOLERANCE * max(abs(scaled), Fraction(1)):
            raise Ambiguous(f"{float(value)!r} is a rounding boundary of %.{digits}f")
        return f"{float(value):.{digits}f}"

    text = _VALUE_REF.sub(fmt, _LABEL_REF.sub(lambda m: labels.get(m.group(1), ""), template))
    if "{{" in text:
        raise CannotSynthesize(f"cannot predict how Prometheus expands {template!r}")
    return text


@dataclass
class _Recorded:
    """A recorded series per group at every evaluation (absent groups are missing keys)."""

    at: dict[int, dict[Group, Fraction]] = field(default_factory=dict)

    def window(self, group: Group, end: int, length: int, interval: int) -> list[Fraction]:
        start = max(0, -(-(end - length) // interval) * interval)
        return [v for t in range(start, end + 1, interval) if (v := self.at.get(t, {}).get(group)) is not None]


class Evaluation:
    """The generated rules of ``generated`` evaluated over ``inputs`` every ``interval`` seconds."""

    def __init__(self, generated: list[SLORules], inputs: Iterable[Input], scrape: int, interval: int) -> None:
        self.generated = generated
        self.inputs = list(inputs)
        self.scrape = scrape
        self.interval = interval
        self._samples = [i.samples(scrape) for i in self.inputs]
        self._times = [[t for t, _ in s] for s in self._samples]
        self._base: dict[str, tuple[_Recorded, _Recorded]] = {}

    # --- recorded base series ----------------------------------------------------------------------

    def _sum_rates(self, query: object, by: tuple[str, ...], at: int, window: int) -> dict[Group, Fraction]:
        assert isinstance(query, SelectorQuery)
        out: dict[Group, Fraction] = {}
        for inp, samples, times in zip(self.inputs, self._samples, self._times, strict=True):
            if not query.selector.matches(inp.series.name, inp.series.labels):
                continue
            r = _rate(samples, times, at, window)
            if r is not None:
                g = _group(inp.series.labels, by)
                out[g] = out.get(g, Fraction(0)) + r
        return out

    def base(self, rules: SLORules, until: int) -> tuple[_Recorded, _Recorded]:
        """(total, errors) as ``slo:sli_total:rate`` and ``slo:sli_errors:rate`` record them."""
        slo = rules.slo
        sli = slo.sli
        if not isinstance(sli, EventsSLI) or not all(
                isinstance(q, SelectorQuery) for q in (sli.total, sli.bad or sli.good)):
            raise CannotSynthesize(f"SLO {slo.id}: only selector SLIs can be predicted")
        cached = self._base.get(slo.id)
        total, errors = cached or (_Recorded(), _Recorded())
        window, by = rules.profile.base_window, sli.group_by
        for t in range(0, until + 1, self.interval):
            if t in total.at:
                continue
            tot = self._sum_rates(sli.total, by, t, window)
            if sli.bad is not None:
                # (sum by (g) (rate(bad))) or ignoring (slo) 0 * total
                err = self._sum_rates(sli.bad, by, t, window)
                err.update({g: Fraction(0) for g in tot if g not in err})
            else:
                # clamp_min(total - good, 0) or ignoring (slo) total
                good = self._sum_rates(sli.good, by, t, window)
                err = {g: max(v - good[g], Fraction(0)) if g in good else v for g, v in tot.items()}
            total.at[t], errors.at[t] = tot, err
        self._base[slo.id] = (total, errors)
        return total, errors

    # --- alert conditions --------------------------------------------------------------------------

    def _tier(self, rules: SLORules, tier: Tier, at: int) -> dict[Group, Fraction]:
        """Groups whose tier condition holds at ``at``, with the alert's value (the long burn rate)."""
        slo = rules.slo
        total, errors = self.base(rules, at)
        budget, factor = slo.error_budget, tier.burn_rate(slo.period)
        guard = guard_events(slo, tier)
        out: dict[Group, Fraction] = {}
        for g in sorted(self._groups(total, at, tier.long_window) | self._groups(errors, at, tier.long_window)):
            burns: list[Fraction] = []
            for w in (tier.long_window, tier.short_window):
                t = sum(total.window(g, at, w, self.interval), Fraction(0))
                e = errors.window(g, at, w, self.interval)
                if not e or t == 0:  # no series in the window, or 0/0: NaN compares false
                    if sum(e, Fraction(0)) > 0:
                        raise CannotSynthesize(f"SLO {slo.id}: errors without traffic divide by zero")
                    break
                burns.append(sum(e, Fraction(0)) / t / budget)
            if len(burns) < 2:
                continue
            long_t = total.window(g, at, tier.long_window, self.interval)
            events = sum(long_t, Fraction(0)) / len(long_t) * tier.long_window
            for b in burns:
                _check_margin(b, factor, f"SLO {slo.id} {tier.name} burn rate at {at}s")
            if guard:
                _check_margin(events, guard, f"SLO {slo.id} {tier.name} events at {at}s")
            if all(b > factor for b in burns) and (not guard or events >= guard):
                out[g] = burns[0]
        return out

    @staticmethod
    def _groups(recorded: _Recorded, at: int, window: int) -> set[Group]:
        return {g for t, groups in recorded.at.items() if at - window <= t <= at for g in groups}

    def _no_data(self, rules: SLORules, at: int) -> dict[Group | None, Fraction]:
        """``absent(total) or (total == 0)``: None for the absent() branch (no grouping labels)."""
        total, _ = self.base(rules, at)
        now = total.at.get(at, {})
        if not now:
            return {None: Fraction(1)}
        assert rules.slo.alerting is not None
        if not rules.slo.alerting.no_data.zero_traffic:
            return {}
        return {g: Fraction(0) for g, v in now.items() if v == 0}

    def _tiles(self, rules: SLORules, until: int) -> tuple[_Recorded, _Recorded]:
        """(total, errors) tiles: at every n-th evaluation, the sums of the last n base samples."""
        total, errors = self.base(rules, until)
        profile = rules.profile
        n = profile.budget_interval // profile.interval
        tiles = (_Recorded(), _Recorded())
        for t in range(0, until + 1, self.interval):
            if (t // profile.interval) % n:
                continue
            for base, tile in zip((total, errors), tiles, strict=True):
                sums: dict[Group, Fraction] = {}
                for k in range(n):
                    for g, v in base.at.get(t - k * profile.interval, {}).items():
                        sums[g] = sums.get(g, Fraction(0)) + v
                tile.at[t] = sums
        return tiles

    def _budget_percent(self, rules: SLORules, at: int) -> dict[Group, Fraction]:
        """``100 * slo:error_budget_remaining:ratio`` per group at ``at``.

        The budget group may run before or after the group recording the tiles at ``at`` (promtool
        orders groups it is not told to order): both readings must agree, else Ambiguous.
        """
        slo = rules.slo
        total, errors = self._tiles(rules, at)
        readings = []
        for end in (at, at - 1):
            out: dict[Group, Fraction] = {}
            start = at - slo.period
            for g in self._groups(total, end, end - start):
                t = sum((v for tt, gs in total.at.items() if start <= tt <= end for gg, v in gs.items() if gg == g),
                        Fraction(0))
                e = [v for tt, gs in errors.at.items() if start <= tt <= end for gg, v in gs.items() if gg == g]
                if t > 0 and e:
                    out[g] = 100 * (1 - sum(e, Fraction(0)) / t / slo.error_budget)
            readings.append(out)
        if readings[0] != readings[1]:
            raise Ambiguous(f"SLO {slo.id}: the budget at {at}s depends on the order promtool runs the groups in")
        return readings[0]

    def _budget(self, rules: SLORules, alert: str, at: int) -> dict[Group, Fraction]:
        low = rules.slo.budget.low
        out = {}
        for g, v in self._budget_percent(rules, at).items():
            _check_margin(v, 0, f"SLO {rules.slo.id} budget at {at}s")
            if alert == BUDGET_EXHAUSTED_ALERT:
                if v <= 0:
                    out[g] = v
                continue
            assert low is not None
            _check_margin(v, low * 100, f"SLO {rules.slo.id} budget at {at}s")
            if 0 < v < low * 100:
                out[g] = v
        return out

    # --- alerts --------------------------------------------------------------------------------------

    def firing(self, alert: str, at: int) -> list[Alert]:
        """The firing alerts named ``alert`` at ``at``, as promtool's alert_rule_test lists them."""
        out: list[Alert] = []
        for rules in self.generated:
            for group in rules.groups:
                for rule in group["rules"]:
                    if rule.get("alert") == alert:
                        out.extend(self._firing(rules, rule, at))
        return sorted(out, key=lambda a: sorted(a.labels.items()))

    def _firing(self, rules: SLORules, rule: dict[str, Any], at: int) -> list[Alert]:
        slo = rules.slo
        for_ = _seconds(rule.get("for"))
        tier = None if rule["alert"] in (NO_DATA_ALERT, *BUDGET_ALERTS) else \
            next(t for t in rules.tiers if t.name == rule["labels"]["slo_tier"])

        def condition(t: int) -> dict[Group | None, Fraction]:
            if rule["alert"] in BUDGET_ALERTS:
                return dict(self._budget(rules, rule["alert"], t))
            if tier is None:
                return self._no_data(rules, t)
            return {g: v for g, v in self._tier(rules, tier, t).items()}

        # Firing at ``at``: active since an evaluation at least ``for`` ago, so the condition held at
        # every evaluation from there on; the value is the latest one.
        first = at - -(-for_ // self.interval) * self.interval
        if first < 0:
            return []
        held: dict[Group | None, Fraction] = condition(at)
        for t in range(first, at, self.interval):
            now = condition(t)
            held = {g: v for g, v in held.items() if g in now}
        return [self._alert(slo, rule, g, v) for g, v in held.items()]

    def _alert(self, slo: SLO, rule: dict[str, Any], group: Group | None, value: Fraction) -> Alert:
        sample = {series.SLO_LABEL: slo.id, **dict(group or ())}
        labels = {**sample, **rule.get("labels", {})}
        annotations = {k: render(v, sample, value) for k, v in rule.get("annotations", {}).items()}
        return Alert(rule["alert"], labels, annotations)


def _seconds(duration: str | None) -> int:
    return parse_seconds(duration) if duration else 0
