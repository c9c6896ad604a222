"""Rule evaluation cost in a real Prometheus: our SLO rules against Sloth's, for the same 100 SLOs.

Run: ``.venv/bin/python bench/bench_slo_rules.py [--slos 100] [--run 120] [--eval 5]``. Goal: ours cost
<= 50% of Sloth's, in evaluation time and in samples read.

Two Prometheus side by side scrape one synthetic exporter (prometheus_client, 127.0.0.1) that counts
requests of 100 services, each with an availability SLO (99.9%, 30 days, the Google tiers). Each
starts from the same backfilled history, steady state for both rule sets: 3 days of raw counters
(Sloth's longest raw range) and each one's own recorded series as far back as its rules read them
(ours: the two base series for 3 days, their 5-minute tiles for 30 days; Sloth: its 5-minute ratios
for 30 days, whose average is its period budget), at the production cadence (30 s scrapes, 1 m rules).
Then both evaluate their rules for ``--run`` seconds with time compressed: a minute of evaluation
interval becomes ``--eval`` seconds (ours: alerts 1 m → 5 s, budget group 5 m →
25 s; Sloth: 1 m → 5 s).

Reported for each: the Prometheus process's CPU seconds over the run; the sum over its rule groups of
``prometheus_rule_group_last_duration_seconds`` averaged over the run, once per group ("per round")
and weighted by how often each group runs in production ("per minute"); and the samples its rules
read (``totalQueryableSamples`` of every rule's expression through the query API, the same weights).
Groups run concurrently, so on a busy machine a group's duration also holds its wait for a core:
CPU seconds are the steadier figure.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import numpy as np
import yaml
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foundation.durations import format_duration, parse_seconds  # noqa: E402
from foundation.process import LOOPBACK, free_port  # noqa: E402
from foundation.prometheus import PrometheusClient  # noqa: E402
from foundation.promql import Matcher, Selector  # noqa: E402
from slo import backfill, rules, series, sloth_rules  # noqa: E402
from slo.model import SLO, EventsSLI  # noqa: E402
from slo.promql import SelectorQuery  # noqa: E402

METRIC = "bench_requests_total"
SCRAPE = 30
STEP = 60  # production evaluation interval of both rule sets (ours: fast group; Sloth: all groups)
TILE = 300  # our budget group's interval, and so the length of the tiles it reads
RAW_DAYS = 3  # Sloth's longest range over raw series
PERIOD_DAYS = 30
ERROR_RATIO = 0.0005
JOB = "bench"


# --- the synthetic services: closed-form counters, so history and live scrapes continue each other ---

class Traffic:
    """Requests per second of each service: 10x daily swings, its own phase; counters integrate it."""

    def __init__(self, n: int, origin: float, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.low = rng.uniform(5, 20, n)
        self.phase = rng.uniform(0, 1, n)
        self.origin = origin  # the counters start at 0 here
        self.services = [f"svc{i:03d}" for i in range(n)]

    def _integral(self, t: np.ndarray) -> np.ndarray:
        # rate = low × (1 + 4.5 × (1 + sin(ωt + φ))): 1× to 10× low.
        w = 2 * np.pi / 86400
        tt = t[None, :] - self.origin
        return self.low[:, None] * (5.5 * tt - 4.5 / w * np.cos(w * tt + 2 * np.pi * self.phase[:, None]))

    def total(self, t: np.ndarray) -> np.ndarray:
        """Counter values (services × times)."""
        return self._integral(t) - self._integral(np.array([self.origin]))

    def rate(self, t: np.ndarray, window: int) -> np.ndarray:
        return (self.total(t) - self.total(t - window)) / window


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class names it so
        pass  # two Prometheus scraping every 30 s would fill the benchmark's output


class Exporter:
    """The services' counters on 127.0.0.1, computed at scrape time from the same closed form."""

    def __init__(self, traffic: Traffic) -> None:
        self.traffic = traffic
        registry = CollectorRegistry()
        registry.register(self)  # type: ignore[arg-type]
        self.port = free_port()
        self._server: WSGIServer = make_server(LOOPBACK, self.port, make_wsgi_app(registry),
                                                handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def collect(self) -> Iterator[CounterMetricFamily]:
        total = self.traffic.total(np.array([time.time()]))[:, 0]
        family = CounterMetricFamily(METRIC.removesuffix("_total"), "Synthetic requests.", labels=["service", "code"])
        for service, value in zip(self.traffic.services, total.tolist(), strict=True):
            family.add_metric([service, "200"], value * (1 - ERROR_RATIO))
            family.add_metric([service, "500"], value * ERROR_RATIO)
        yield family

    @property
    def target(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def __enter__(self) -> Exporter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


# --- the SLOs and both rule sets ---------------------------------------------------------------------

def slos(traffic: Traffic) -> list[SLO]:
    out = []
    for service in traffic.services:
        mine = Matcher("service", "=", service)
        out.append(SLO(service=service, name="availability", objective=Fraction(999, 1000), sli=EventsSLI(
            total=SelectorQuery(Selector(METRIC, (mine,))),
            bad=SelectorQuery(Selector(METRIC, (mine, Matcher("code", "=~", "5..")))))))
    return out


def rule_files(specs: list[SLO], out: Path, speedup: Fraction) -> tuple[Path, Path, dict[str, int]]:
    """(ours, Sloth's) with every group's interval divided by ``speedup``, and its production interval.

    Time is compressed, not flattened: our budget group keeps running 5 times less often than the
    alerts, Sloth's groups all at its one interval, as they would in production.
    """
    production: dict[str, int] = {}
    ours = rules.rule_file(rules.generate(specs))
    theirs = {"groups": [g for s in specs for g in sloth_rules.generate(s)]}
    for g in [*ours["groups"], *theirs["groups"]]:
        production[g["name"]] = parse_seconds(g.get("interval", f"{STEP}s"))  # Sloth: the global 1m
        g["interval"] = format_duration(int(production[g["name"]] / speedup))
    paths = out / "ours.rules.yml", out / "sloth.rules.yml"
    paths[0].write_text(rules.dump(ours))
    paths[1].write_text(rules.dump(theirs, header=""))
    return paths[0], paths[1], production


# --- history -------------------------------------------------------------------------------------------

def backfill_history(traffic: Traffic, specs: list[SLO], target: str, end: int, data: dict[str, Path]) -> None:
    """Raw counters for RAW_DAYS and each rule set's recorded series for the period, into both TSDBs."""
    instance = {"job": JOB, "instance": target}  # what the live scrapes attach: the same series continue
    t = np.arange(end - RAW_DAYS * 86400 - 3600, end + 1, SCRAPE)
    total = traffic.total(t.astype(float))
    raw = []
    for i, service in enumerate(traffic.services):
        raw.append(backfill.Samples(METRIC, {**instance, "service": service, "code": "200"}, t,
                                    total[i] * (1 - ERROR_RATIO)))
        raw.append(backfill.Samples(METRIC, {**instance, "service": service, "code": "500"}, t, total[i] * ERROR_RATIO))
    # Ours: the base series as far back as an alert reads them, the tiles over the period.
    t = np.arange(end - RAW_DAYS * 86400 - 3600, end + 1, STEP)
    rate = traffic.rate(t.astype(float), STEP)
    tiles = np.arange(end - PERIOD_DAYS * 86400 - 3600, end + 1, TILE) // TILE * TILE
    tile = sum(traffic.rate((tiles - k * STEP).astype(float), STEP) for k in range(TILE // STEP))
    ours = []
    for i, slo in enumerate(specs):
        ident = {series.SLO_LABEL: slo.id}
        ours += [backfill.Samples(series.TOTAL, ident, t, rate[i]),
                 backfill.Samples(series.ERRORS, ident, t, rate[i] * ERROR_RATIO),
                 backfill.Samples(series.TOTAL_TILE, ident, tiles, tile[i]),
                 backfill.Samples(series.ERRORS_TILE, ident, tiles, tile[i] * ERROR_RATIO)]
    # Sloth: its 5-minute ratios over the period, every minute (its 30-day rule averages them).
    t = np.arange(end - PERIOD_DAYS * 86400 - 3600, end + 1, STEP)
    theirs = [backfill.Samples("slo:sli_error:ratio_rate5m", {
        "sloth_id": slo.id, "sloth_service": slo.service, "sloth_slo": slo.name, "sloth_window": "5m"},
        t, np.full(len(t), ERROR_RATIO)) for slo in specs]
    backfill.create_blocks(raw + ours, data["ours"])
    backfill.create_blocks(raw + theirs, data["sloth"])


# --- measuring -----------------------------------------------------------------------------------------

def _group(rule_group: str) -> str:
    return rule_group.rsplit(";", 1)[-1]  # "<file>;<group>"


_RULE_METRICS = ("prometheus_rule_group_last_duration_seconds", "prometheus_rule_group_last_evaluation_samples",
                 "prometheus_rule_group_iterations_missed_total", "prometheus_rule_group_iterations_total")


def scrape_rule_metrics(url: str) -> dict[str, dict[str, float]]:
    """metric → group → value, for the rule-group gauges and counters of one Prometheus."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    text = httpx.get(f"{url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in _RULE_METRICS:
                out[s.name][_group(s.labels["rule_group"])] = s.value
            elif s.name == "process_cpu_seconds_total":
                out[s.name]["process"] = s.value
    return out


def samples_read(url: str, rule_file: Path) -> dict[str, int]:
    """group → samples its rules read now (each rule's expression, evaluated once with query stats)."""
    out: dict[str, int] = {}
    now = time.time()
    with PrometheusClient(url, timeout=120) as prom:
        for g in yaml.safe_load(rule_file.read_text())["groups"]:
            out[g["name"]] = sum(prom.query_stats(r["expr"], now).samples for r in g["rules"])
    return out


def _per_minute(values: dict[str, float], production: dict[str, int]) -> float:
    return sum(v * 60 / production[g] for g, v in values.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slos", type=int, default=100)
    parser.add_argument("--run", type=int, default=120, help="seconds of measured evaluation (<= 180)")
    parser.add_argument("--eval", type=int, default=5,
                        help="what 1 m of evaluation interval becomes during the run (time compressed)")
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    run = min(args.run, 180)
    started = time.monotonic()
    end = int(time.time()) // STEP * STEP - STEP
    traffic = Traffic(args.slos, origin=float(end - PERIOD_DAYS * 86400 - 2 * 86400))
    specs = slos(traffic)
    root = Path(tempfile.mkdtemp(prefix="bench-slo-rules-"))
    try:
        ours_file, sloth_file, production = rule_files(specs, root, Fraction(STEP, args.eval))
        with Exporter(traffic) as exporter:
            data = {"ours": root / "ours", "sloth": root / "sloth"}
            backfill_history(traffic, specs, exporter.target, end, data)
            prepared = time.monotonic() - started
            proms = {name: backfill.LocalPrometheus(d, [ours_file if name == "ours" else sloth_file],
                                                    scrape=[exporter.target], job=JOB, scrape_interval=SCRAPE,
                                                    evaluation_interval=args.eval, flags=[
                                                        # Rules share the query engine's slots (20 by
                                                        # default): a queue would count as duration.
                                                        "--query.max-concurrency=1000"])
                     for name, d in data.items()}
            try:
                for p in proms.values():
                    p.start(timeout=120)
                time.sleep(args.warmup)
                polls: dict[str, list[dict[str, dict[str, float]]]] = {name: [] for name in proms}
                before = {name: scrape_rule_metrics(p.url) for name, p in proms.items()}
                deadline = time.monotonic() + run
                while time.monotonic() < deadline:
                    for name, p in proms.items():
                        polls[name].append(scrape_rule_metrics(p.url))
                    time.sleep(args.eval)
                after = {name: scrape_rule_metrics(p.url) for name, p in proms.items()}
                read = {"ours": samples_read(proms["ours"].url, ours_file),
                        "sloth": samples_read(proms["sloth"].url, sloth_file)}
            finally:
                for p in proms.values():
                    p.stop()
        report(args, run, prepared, production, polls, before, after, read, ours_file, sloth_file)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _mean_sum(polls: list[dict[str, dict[str, float]]], metric: str) -> dict[str, float]:
    """Per group, the mean over the polls of the gauge."""
    groups = polls[-1][metric]
    return {g: float(np.mean([p[metric].get(g, math.nan) for p in polls])) for g in groups}


def report(args: Any, run: int, prepared: float, production: dict[str, int],
           polls: dict[str, list[dict[str, dict[str, float]]]], before: dict[str, Any], after: dict[str, Any],
           read: dict[str, dict[str, int]], ours_file: Path, sloth_file: Path) -> None:
    lines = []
    figures: dict[str, dict[str, float]] = {}
    for name, path in (("ours", ours_file), ("sloth", sloth_file)):
        doc = yaml.safe_load(path.read_text())
        n_rules = sum(len(g["rules"]) for g in doc["groups"])
        n_rec = sum("record" in r for g in doc["groups"] for r in g["rules"])
        duration = _mean_sum(polls[name], "prometheus_rule_group_last_duration_seconds")
        out_samples = _mean_sum(polls[name], "prometheus_rule_group_last_evaluation_samples")
        iterations = sum(after[name]["prometheus_rule_group_iterations_total"].values()) - \
            sum(before[name]["prometheus_rule_group_iterations_total"].values())
        missed = sum(after[name]["prometheus_rule_group_iterations_missed_total"].values()) - \
            sum(before[name]["prometheus_rule_group_iterations_missed_total"].values())
        cpu = after[name]["process_cpu_seconds_total"]["process"] - before[name]["process_cpu_seconds_total"]["process"]
        figures[name] = {
            "cpu": cpu,
            "round_s": sum(duration.values()), "minute_s": _per_minute(duration, production),
            "round_read": sum(read[name].values()), "minute_read": _per_minute(
                {g: float(v) for g, v in read[name].items()}, production),
        }
        f = figures[name]
        lines.append(f"  {name:5}: {n_rec} recording + {n_rules - n_rec} alerting rules in {len(doc['groups'])} "
                     f"groups; rule group duration sum {f['round_s']:.3f} s/round ({f['minute_s']:.3f} s/min at "
                     f"production cadence); samples read {f['round_read'] / 1e6:.2f}M/round "
                     f"({f['minute_read'] / 1e6:.2f}M/min); samples written {sum(out_samples.values()):.0f}/round; "
                     f"{iterations:.0f} group evaluations, {missed:.0f} missed; Prometheus CPU {cpu:.1f} s")
    o, s = figures["ours"], figures["sloth"]
    ratio_time, ratio_read = o["minute_s"] / s["minute_s"], o["minute_read"] / s["minute_read"]
    ratio_cpu = o["cpu"] / s["cpu"]
    verdict = "met" if max(ratio_time, ratio_read, ratio_cpu) <= 0.5 else "NOT met"
    print(f"bench_slo_rules: {args.slos} SLOs, {PERIOD_DAYS}d history (raw {RAW_DAYS}d at {SCRAPE}s), "
          f"2 Prometheus side by side, {run}s with 1m of evaluation interval run as {args.eval}s "
          f"(history prepared in {prepared:.0f}s)")
    print("\n".join(lines))
    print(f"result: ours/Sloth: Prometheus CPU {ratio_cpu:.1%}, rule group duration {ratio_time:.1%} per minute "
          f"({o['round_s'] / s['round_s']:.1%} per round), samples read {ratio_read:.1%} per minute "
          f"({o['round_read'] / s['round_read']:.1%} per round); goal <= 50%: {verdict}")


if __name__ == "__main__":
    main()
