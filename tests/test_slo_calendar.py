"""Calendar periods: boundaries (month lengths, leap years, ISO weeks, DST, the running period), the
spec formats that declare them, and promtool proofs that a calendar period's PromQL counts exactly
its own samples while a rolling window mixes periods."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml

from foundation import promtool as tools
from foundation.durations import format_duration
from slo import compliance, rules, series, windows
from slo.calendar import Calendar, last_periods, parse_instant, period_at
from slo.errors import NotSupportedError, SpecError
from slo.loaders import load_paths, native, openslo
from slo.model import Tier

D = 86400


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --- boundaries ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("at", "start", "days", "label"), [
    (utc(2026, 1, 31, 23, 59, 59), utc(2026, 1, 1), 31, "2026-01"),
    (utc(2026, 2, 1), utc(2026, 2, 1), 28, "2026-02"),  # the first instant belongs to the new month
    (utc(2024, 2, 29, 12), utc(2024, 2, 1), 29, "2024-02"),  # leap year
    (utc(2000, 2, 15), utc(2000, 2, 1), 29, "2000-02"),  # divisible by 400: leap
    (utc(2100, 2, 15), utc(2100, 2, 1), 28, "2100-02"),  # divisible by 100 only: not leap
    (utc(2026, 4, 30, 23), utc(2026, 4, 1), 30, "2026-04"),
    (utc(2026, 12, 31, 23, 59), utc(2026, 12, 1), 31, "2026-12"),  # December rolls over the year
])
def test_months_are_calendar_months(at: datetime, start: datetime, days: int, label: str) -> None:
    p = period_at(Calendar("month"), at)
    assert (p.start, p.seconds, p.label) == (start, days * D, label)


@pytest.mark.parametrize(("at", "monday", "label"), [
    (utc(1970, 1, 1), utc(1969, 12, 29), "1970-W01"),  # Thursday 1 January 1970 is in ISO week 1
    (utc(1970, 1, 5), utc(1970, 1, 5), "1970-W02"),
    (utc(1970, 1, 11, 23, 59, 59), utc(1970, 1, 5), "1970-W02"),  # Sunday night: still that week
    (utc(2026, 12, 31), utc(2026, 12, 28), "2026-W53"),  # 2026 has 53 ISO weeks
    (utc(2027, 1, 3), utc(2026, 12, 28), "2026-W53"),  # ... the last one ending in 2027
    (utc(2027, 1, 4), utc(2027, 1, 4), "2027-W01"),
    (utc(2024, 12, 30), utc(2024, 12, 30), "2025-W01"),  # ISO year 2025 starts in December 2024
])
def test_weeks_are_iso_weeks_from_monday(at: datetime, monday: datetime, label: str) -> None:
    p = period_at(Calendar("week"), at)
    assert (p.start, p.end - p.start, p.label) == (monday, timedelta(days=7), label)
    assert p.start.weekday() == 0


def test_a_timezone_moves_the_boundaries_and_dst_changes_the_length() -> None:
    berlin = Calendar("month", "Europe/Berlin")
    p = period_at(berlin, utc(2026, 3, 15))
    # Local midnight: 1 March is 23:00 UTC the day before (CET), 1 April 22:00 UTC (CEST).
    assert (p.start, p.end) == (utc(2026, 2, 28, 23), utc(2026, 3, 31, 22))
    assert p.seconds == 31 * D - 3600
    # 23:30 UTC on 31 March is already April in Berlin.
    assert period_at(berlin, utc(2026, 3, 31, 22, 30)).label == "2026-04"
    week = period_at(Calendar("week", "America/New_York"), utc(2026, 3, 9, 3))  # Sunday 23:00 in New York
    assert week.label == "2026-W10" and week.start == utc(2026, 3, 2, 5)


def test_the_running_period_is_last_and_the_earlier_ones_abut() -> None:
    now = utc(2026, 3, 10, 12)
    months = last_periods(Calendar("month"), 4, now)
    assert [p.label for p in months] == ["2025-12", "2026-01", "2026-02", "2026-03"]
    assert all(a.end == b.start for a, b in zip(months, months[1:], strict=False))
    assert months[-1].start <= now < months[-1].end
    weeks = last_periods(Calendar("week"), 3, utc(2026, 1, 1))
    assert [p.label for p in weeks] == ["2025-W51", "2025-W52", "2026-W01"]
    with pytest.raises(ValueError):
        last_periods(Calendar("month"), 0, now)


def test_instants_parse_as_rfc3339_or_unix_seconds() -> None:
    assert parse_instant("2026-03-01T00:00:00Z") == utc(2026, 3, 1)
    assert parse_instant("2026-03-01T01:00:00+01:00") == utc(2026, 3, 1)
    assert parse_instant("2026-03-01") == utc(2026, 3, 1)
    assert parse_instant("2678400") == utc(1970, 2, 1)
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_instant("last tuesday")


def test_ranges_cover_each_sample_once_on_either_prometheus() -> None:
    jan = compliance.Span(0, 31 * D * 1000, closed=True)
    assert (jan.range, jan.at) == (f"{31 * D * 1000 - 1}ms", "@ 2678400")
    assert compliance.Span(0, 31 * D * 1000, closed=False).range == "31d"
    assert compliance.Span(0, 1500, closed=False).at == "@ 1.500"
    assert compliance.closed_ranges("2.42.0+ds") and not compliance.closed_ranges("3.1.0")


# --- spec formats ----------------------------------------------------------------------------------


def _native(tmp_path: Path, **slo: Any) -> Path:
    doc = {"version": native.VERSION, "service": "web",
           "slos": [{"name": "availability", "objective": 99.9, **slo,
                     "sli": {"bad": 'http_requests_total{code=~"5.."}', "total": "http_requests_total"}}]}
    path = tmp_path / "web.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_native_calendar_periods_load_with_their_nominal_budget_basis(tmp_path: Path) -> None:
    (month,) = load_paths([_native(tmp_path, period="month")])
    assert month.calendar == Calendar("month") and month.period == 30 * D
    (week,) = load_paths([_native(tmp_path, period="week", timezone="Europe/Berlin")])
    assert week.calendar == Calendar("week", "Europe/Berlin") and week.period == 7 * D
    (rolling,) = load_paths([_native(tmp_path, period="28d")])
    assert rolling.calendar is None and rolling.period == 28 * D
    # The burn-rate alerts keep working: the month is a 30-day budget, so Google's 14.4x page.
    g = rules.generate_one(month)
    assert g.profile.name == "google-30d" and float(g.tiers[0].burn_rate(month.period)) == 14.4
    assert native.render([week])[0]["slos"][0]["period"] == "week"
    assert native.render([week])[0]["slos"][0]["timezone"] == "Europe/Berlin"


@pytest.mark.parametrize(("fields", "field", "reason"), [
    ({"period": "month", "timezone": "Mars/Olympus"}, "slos[0].timezone", "unknown timezone"),
    ({"period": "30d", "timezone": "UTC"}, "slos[0].timezone", "needs a calendar period"),
    ({"period": "fortnight"}, "slos[0].period", ""),
])
def test_native_calendar_mistakes_name_the_field(tmp_path: Path, fields: dict[str, str], field: str,
                                                 reason: str) -> None:
    with pytest.raises(SpecError) as err:
        load_paths([_native(tmp_path, **fields)])
    assert err.value.field == field and reason in err.value.reason and err.value.file


def _openslo(tmp_path: Path, window: dict[str, Any], version: str = "openslo/v1") -> Path:
    ratio = {"counter": True,
             "bad": {"metricSource": {"type": "Prometheus", "spec": {"query": 'http_requests_total{code=~"5.."}'}}},
             "total": {"metricSource": {"type": "Prometheus", "spec": {"query": "http_requests_total"}}}}
    doc = {"apiVersion": version, "kind": "SLO", "metadata": {"name": "web-availability"},
           "spec": {"service": "web", "budgetingMethod": "Occurrences", "timeWindow": [window],
                    "indicator": {"metadata": {"name": "ok"}, "spec": {"ratioMetric": ratio}},
                    "objectives": [{"target": 0.999}]}}
    path = tmp_path / "openslo.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_openslo_calendar_windows_map_to_calendar_periods(tmp_path: Path) -> None:
    (slo,) = load_paths([_openslo(tmp_path, {"duration": "1M", "isRolling": False,
                                             "calendar": {"startTime": "2022-01-01 00:00:00",
                                                          "timeZone": "America/New_York"}})])
    assert slo.calendar == Calendar("month", "America/New_York") and slo.period == 30 * D
    (slo,) = load_paths([_openslo(tmp_path, {"duration": "1w", "isRolling": False,
                                             "calendar": {"startTime": "2024-01-01 00:00:00"}})])
    assert slo.calendar == Calendar("week")
    (slo,) = load_paths([_openslo(tmp_path, {"duration": "28d", "isRolling": True})])
    assert slo.calendar is None and slo.period == 28 * D


@pytest.mark.parametrize(("window", "reason"), [
    ({"duration": "1w", "isRolling": False, "calendar": {"startTime": "2022-01-01 12:00:00"}}, "a Monday"),
    ({"duration": "1M", "isRolling": False, "calendar": {"startTime": "2022-01-15 00:00:00"}}, "the 1st"),
    ({"duration": "1Q", "isRolling": False, "calendar": {}}, "only 1M"),
    ({"duration": "1M", "isRolling": False, "calendar": {"timeZone": "Nowhere/Land"}}, "unknown timezone"),
])
def test_openslo_calendars_we_cannot_cut_are_refused_with_the_reason(tmp_path: Path, window: dict[str, Any],
                                                                     reason: str) -> None:
    with pytest.raises(NotSupportedError) as err:
        load_paths([_openslo(tmp_path, window)])
    assert err.value.file and err.value.slo == "web-availability" and "isRolling: false" in err.value.reason
    assert reason in err.value.reason


def test_openslo_v1alpha_calendar_windows() -> None:
    window = {"count": 1, "unit": "Week", "isRolling": False, "calendar": {"startTime": "2026-01-05 00:00:00"}}
    period, cal = openslo._alpha_window({"timeWindows": [window]}, "f.yml", "x")
    assert (period, cal) == (7 * D, Calendar("week"))
    with pytest.raises(NotSupportedError, match="a Monday"):
        openslo._alpha_window({"timeWindows": [{**window, "calendar": {"startTime": "2026-01-04 00:00:00"}}]},
                              "f.yml", "x")


# --- promtool proofs -------------------------------------------------------------------------------

SLO_ID = "proof-month"
ALERT = "ProofMonthBudgetBurn"
JAN, FEB = 31 * D, 28 * D  # 1970: January ends at 2678400, February at 5097600
STEP = 300  # promtool refuses queries of more than 50000 samples: a month of 5-minute samples


def _notation(values: list[float | str | None]) -> str:
    """promtool's expanding notation for one value per step (None: no sample, "stale": a marker)."""
    out: list[str] = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        n, v = j - i + 1, values[i]
        if v is None:
            out.append(f"_x{n}")
        elif v == "stale":
            out.extend(["stale"] * n)
        else:
            out.append(f"{v:g}" if n == 1 else f"{v:g}x{n - 1}")
        i = j + 1
    return " ".join(out)


def _span(start: int, end: int) -> compliance.Span:
    version = subprocess.run([str(tools.find("promtool")), "--version"], capture_output=True, text=True).stdout
    return compliance.Span(start * 1000, end * 1000, compliance.closed_ranges(version.split()[2]))


def _tier(name: str, severity: str) -> Tier:
    return Tier(name, severity, 3600, 300, Fraction(1, 50))  # type: ignore[arg-type]


def _sample(expr: str, value: float | None, at: int) -> dict[str, Any]:
    return {"expr": expr, "eval_time": format_duration(at),
            "exp_samples": [] if value is None else [{"labels": "{}", "value": value}]}


def _run(tmp_path: Path, doc: dict[str, Any]) -> None:
    (tmp_path / "empty.rules.yml").write_text("groups: []\n")
    (tmp_path / "proof.test.yml").write_text(yaml.safe_dump(doc, sort_keys=False, width=10**9))
    result = tools.test_rules(tmp_path / "proof.test.yml")
    assert result.ok, result.output


def test_promtool_a_calendar_month_counts_only_its_own_samples(tmp_path: Path) -> None:
    """January and February 1970 from the base series the rules record: boundary samples, lengths,
    ``@`` (the evaluation time does not matter) and the rolling 30-day window that mixes months."""
    n = (JAN + FEB + D) // STEP + 1  # through 2 March
    errors: list[float | str | None] = [0.0] * n
    errors[0] = 7  # 1970-01-01 00:00: the last sample of December 1969
    for i in range((JAN - 2 * 3600) // STEP, JAN // STEP + 1):
        errors[i] = 1  # the last two hours of January, through the sample at 1 February 00:00
    for i in range(JAN // STEP + 1, JAN // STEP + 5):
        errors[i] = 2  # February's first 20 minutes
    page, ticket = _tier("page-fast", "page"), _tier("ticket-fast", "ticket")
    alerts: dict[str, list[float | str | None]] = {"page-fast": [None] * n, "page-slow": [None] * n,
                                                   "ticket-fast": [None] * n}

    def episode(tier: str, first: int, last: int) -> None:
        for i in range(first, last + 1):
            alerts[tier][i] = 1
        alerts[tier][last + 1] = "stale"  # what Prometheus writes when an alert resolves

    episode("page-fast", 4000, 4006)  # mid-January ...
    episode("page-slow", 4002, 4008)  # ... with another page tier overlapping: one incident
    episode("page-fast", JAN // STEP - 8, JAN // STEP + 12)  # begins in January, ends in February
    episode("ticket-fast", 12000, 12002)  # a ticket in February
    labels = f'slo="{SLO_ID}"'
    inputs = [{"series": f"{series.TOTAL}{{{labels}}}", "values": _notation([10.0] * n)},
              {"series": f"{series.ERRORS}{{{labels}}}", "values": _notation(errors)}]
    inputs += [{"series": f'ALERTS{{alertname="{ALERT}", alertstate="firing", {labels}, slo_tier="{t}"}}',
                "values": _notation(v)} for t, v in alerts.items()]
    later = JAN + FEB + D  # evaluated on 2 March: `@` pins each range to its own month
    jan, feb = _span(0, JAN), _span(JAN, JAN + FEB)
    pages = (page, _tier("page-slow", "page"))
    expect: list[dict[str, Any]] = []
    for span, errs, samples, incidents, paged in ((jan, 25, JAN // STEP, 2, 2), (feb, 8, FEB // STEP, 1, None)):
        expect += [
            _sample(compliance.period_sum(series.ERRORS, SLO_ID, span), errs, later),
            _sample(compliance.period_sum(series.TOTAL, SLO_ID, span), 10 * samples, later),
            _sample(compliance.episodes(compliance.firing(ALERT, SLO_ID, (*pages, ticket)), span, STEP),
                    incidents, later),
            _sample(compliance.episodes(compliance.firing(ALERT, SLO_ID, pages), span, STEP), paged, later),
        ]
    errors_sel = series.selector(series.ERRORS, SLO_ID)
    expect += [
        # A rolling 30 days at the end of February still holds January's last two hours.
        _sample(f"sum(sum_over_time({errors_sel}[30d]))", 25 + 8, JAN + FEB),
        # The running month so far: February until 00:10 holds its first two samples only.
        _sample(compliance.period_sum(series.ERRORS, SLO_ID, _span(JAN, JAN + 600)), 4, later),
    ]
    if jan.closed:
        # Why the range is a millisecond short on Prometheus 2: [31d] would count December's sample.
        expect.append(_sample(f"sum(sum_over_time({errors_sel}[31d] @ {JAN}))", 7 + 25, later))
    _run(tmp_path, {"rule_files": ["empty.rules.yml"], "evaluation_interval": format_duration(STEP), "tests": [
        {"name": "calendar months of 1970", "interval": format_duration(STEP), "input_series": inputs,
         "promql_expr_test": expect}]})


def _counter(segments: list[tuple[int, int]]) -> str:
    """A counter's promtool values: 0, then (samples, increase per sample) segments."""
    out, last = ["0"], 0
    for samples, inc in segments:
        out.append(f"{last + inc}+{inc}x{samples - 1}")
        last += inc * samples
    return " ".join(out)


def test_promtool_iso_weeks_from_the_generated_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole chain for a ``period: week`` SLO: counters → the generated rules (burn-rate alerts with
    the 7-day budget basis) → base series and ALERTS → per-ISO-week errors and incidents.

    The rules are generated under the SLO's own tiers at a 5-minute cadence: promtool evaluates every
    rule at every step, and three weeks of 1-minute steps take a minute.
    """
    spec = _native(tmp_path, period="week", alerting={"ticket": {"disable": True}})
    (slo,) = load_paths([spec])
    own = windows.profile_for(slo)
    assert own.period == 7 * D and float(own.tier("page-fast").burn_rate(own.period)) == 14.4
    coarse = replace(own, name="proof-5m", interval=300, base_window=300, budget_interval=600, scrape_interval=60,
                     no_data_for=1800)
    monkeypatch.setitem(windows.PROFILES, coarse.name, coarse)
    generated = rules.generate_one(slo, rules.Options(profile=coarse.name))
    assert {t.severity for t in generated.tiers} == {"page"}
    (tmp_path / "week.rules.yml").write_text(rules.dump(rules.rule_file([generated])))
    scrape, rps = coarse.scrape_interval, 2  # 2 requests per second
    w02, w03 = 4 * D, 11 * D  # Monday 5 and Monday 12 January 1970 (1 January was a Thursday)
    outages = [(w03 - 3600, 1800), (w03 + 10 * 3600, 1200), (w03 + D + 10 * 3600, 1200)]
    end = w03 + 2 * D
    segments, t = [], 0
    for start, length in outages:
        segments += [((start - t) // scrape, 0), (length // scrape, rps * scrape)]
        t = start + length
    segments.append(((end - t) // scrape, 0))
    inputs = [{"series": 'http_requests_total{code="200"}', "values": _counter([(end // scrape, rps * scrape)])},
              {"series": 'http_requests_total{code="500"}', "values": _counter(segments)}]
    step = generated.profile.interval
    week = [_span(0, w02), _span(w02, w03), _span(w03, end)]  # the last one still running at `end`
    firing = compliance.firing(slo.alert_name, slo.id, generated.tiers)
    errors = [compliance.period_sum(series.ERRORS, slo.id, s) for s in week]
    rolling = f"sum(sum_over_time({series.selector(series.ERRORS, slo.id)}[7d] @ {end}))"
    expect = [
        _sample(errors[0], 0, end),  # the partial ISO week 1 (Thursday to Sunday) had no errors
        _sample(f"({errors[1]}) > bool 0", 1, end),
        # Week 3 so far holds its own two outages only; a rolling 7 days then still holds week 2's.
        _sample(f"({rolling}) > bool ({errors[2]})", 1, end),
        _sample(compliance.episodes(firing, week[0], step), None, end),
        _sample(compliance.episodes(firing, week[1], step), 1, end),  # Sunday 23:00: paged before Monday
        _sample(compliance.episodes(firing, week[2], step), 2, end),  # the episode running past midnight is week 2's
    ]
    (tmp_path / "proof.test.yml").write_text(yaml.safe_dump({
        "rule_files": ["week.rules.yml"], "evaluation_interval": format_duration(step),
        "tests": [{"name": "ISO weeks of January 1970", "interval": format_duration(scrape), "input_series": inputs,
                   "promql_expr_test": expect}]}, sort_keys=False, width=10**9))
    result = tools.test_rules(tmp_path / "proof.test.yml")
    assert result.ok, result.output


# --- bad requests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("params", "message"), [
    ({"period": "quarter"}, "period: 'quarter' is not a calendar period"),
    ({"count": "six"}, "count: 'six' is not a whole number"),
    ({"count": "0"}, "count: 0 is outside 1..120"),
    ({"format": "xml"}, "format: 'xml' is not one of json, csv, markdown"),
    ({"at": "yesterday"}, "at: 'yesterday' is neither"),
])
def test_compliance_bad_parameters_are_400_with_the_reason(tmp_path: Path, params: dict[str, str],
                                                            message: str) -> None:
    from fastapi.testclient import TestClient

    from slo.service.app import ServiceConfig, create_app

    config = ServiceConfig(prometheus="http://127.0.0.1:9", specs=[_native(tmp_path, period="month")])
    with TestClient(create_app(config)) as client:
        r = client.get("/api/v1/slos/web-availability/compliance", params=params)
        assert r.status_code == 400 and message in r.json()["error"]
        assert client.get("/api/v1/slos/nope/compliance.csv").status_code == 404
        down = client.get("/api/v1/slos/web-availability/compliance.md")
        assert down.status_code == 503 and "127.0.0.1:9" in down.json()["data_source"]


@pytest.mark.parametrize(("args", "message"), [
    (["--period", "day"], "invalid --period"),
    (["--count", "0"], "invalid --count"),
    (["--format", "html"], "invalid --format"),
    (["--at", "soon"], "invalid --at"),
    (["--prometheus", "http://127.0.0.1:9"], "Prometheus at http://127.0.0.1:9"),
])
def test_compliance_cli_mistakes_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    from typer.testing import CliRunner

    from enginewatch.cli import app

    spec = _native(tmp_path, period="week")
    result = CliRunner().invoke(app, ["slo", "compliance", "web-availability", "--spec", str(spec), *args])
    assert result.exit_code == 2 and message in result.output, result.output
    unknown = CliRunner().invoke(app, ["slo", "compliance", "web-nope", "--spec", str(spec), "--prometheus", "x"])
    assert unknown.exit_code == 2 and "unknown SLO 'web-nope'" in unknown.output


def test_sloth_rules_refuse_a_calendar_period_they_would_publish_as_rolling(tmp_path: Path) -> None:
    from slo import sloth_rules

    (slo,) = load_paths([_native(tmp_path, period="month")])
    with pytest.raises(NotSupportedError) as err:
        sloth_rules.generate(slo)
    assert (err.value.field, err.value.slo) == ("period", "availability") and "calendar month" in err.value.reason


def test_a_period_that_has_just_begun_is_no_data_without_asking_prometheus(tmp_path: Path) -> None:
    (slo,) = load_paths([_native(tmp_path, period="month")])

    class Unreachable:
        def query(self, expr: str) -> list[Any]:
            raise AssertionError(f"queried {expr}")

    g = rules.generate_one(slo)
    h = compliance.history(Unreachable(), slo, g.tiers, 60, Calendar("month"), 1, utc(2026, 3, 1),  # type: ignore[arg-type]
                           closed=True)
    (p,) = h.periods
    assert (p.period.label, p.partial, p.attainment, p.met, p.incidents) == ("2026-03", True, None, None, 0)
    assert "no data" in compliance.to_table(h) and compliance.to_csv(h).splitlines()[1].endswith(",,0.999,,,0,0")
