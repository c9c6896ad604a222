"""The game day document: goals first (measured against their limits), then one section per experiment
in the game day template, the on-call diagnoses captured when pages fired, and the follow-ups."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from chaos.journal import Journal
from chaos.report.markdown import experiment_section, followups


@dataclass(frozen=True)
class Goal:
    key: str
    description: str
    measured: float | int | None
    limit: float | int
    comparison: str  # "<=", ">=" or "=="
    sources: tuple[str, ...] = ()
    note: str = ""
    #: The figures behind the measurement (e.g. a percentile's sample size and confidence interval).
    figures: dict[str, Any] = field(default_factory=dict)
    #: An evidence goal (how much data a figure rests on) is reported as met or NOT MET, and listed as a
    #: follow-up, but does not fail the game day: the platform's behaviour is judged by the other goals.
    evidence: bool = False

    @property
    def ok(self) -> bool:
        if self.measured is None:
            return False  # a goal nobody measured is not met
        if self.comparison == "<=":
            return self.measured <= self.limit
        if self.comparison == ">=":
            return self.measured >= self.limit
        return self.measured == self.limit

    @property
    def blocking(self) -> bool:
        """Whether an unmet goal fails the game day."""
        return not self.evidence and not self.ok

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sources": list(self.sources), "ok": self.ok}


@dataclass
class Diagnosis:
    """A runbook run captured when a page fired."""

    alert: str
    labels: dict[str, str]
    fired_s: float | None
    command: list[str]
    exit_code: int | None
    result: dict[str, Any] | None
    error: str = ""
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(v: Any) -> str:
    if v is None:
        return "not measured"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def diagnosis_markdown(d: Diagnosis) -> str:
    lines = [f"`{' '.join(d.command)}` (exit {d.exit_code}, {d.seconds:.1f}s)", ""]
    if d.error:
        lines.append(f"error: {d.error}")
    r = d.result or {}
    if r.get("summary"):
        lines += [f"**{r['summary']}**", ""]
    for f in r.get("findings", [])[:15]:
        lines.append(f"- [{f.get('level')}] {f.get('text')}")
    for u in r.get("unavailable", []):
        lines.append(f"- unavailable: {u.get('source')} ({u.get('error')})")
    if r.get("mitigations"):
        lines += ["", "Mitigations proposed:"]
        lines += [f"- `{m.get('command')}` — {m.get('why')}" for m in r["mitigations"][:8]]
    return "\n".join(lines)


def gameday_document(*, title: str, started: float, ended: float, suite: str, stack: Mapping[str, Any],
                     goals: Sequence[Goal], journals: Sequence[Journal], charts: Mapping[str, str],
                     diagnoses: Sequence[Diagnosis], status: str, costs: Mapping[str, float] | None = None) -> str:
    when = datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [f"# {title}", "",
             f"Suite `{suite}`, started {when}, {ended - started:.0f} s in all. Verdict: **{status.upper()}**.", "",
             "Platform: " + ", ".join(f"{k} {v}" for k, v in stack.items()), "",
             "## Goals", "", "| goal | limit | measured | result | from |", "|---|---|---|---|---|"]
    for g in goals:
        source = (", ".join(g.sources) or "—") + (f" — {g.note}" if g.note else "")
        lines.append(f"| {g.description} | {g.comparison} {g.limit:g} | {_fmt(g.measured)} | "
                     f"{_result(g)} | {source} |")
    if costs:
        # What the game day cost, per engine: its nodes' running time times their type's rate.
        hours = max(ended - started, 1e-9) / 3600
        lines += ["", "## Cost", "", "| engine | units consumed | average units per hour |", "|---|---:|---:|"]
        lines += [f"| {engine} | {units:.3g} | {units / hours:.3g} |" for engine, units in sorted(costs.items())]
    lines += ["", "## Experiments", "", "| experiment | status | queries | failed | lost | budget consumed |",
              "|---|---|---:|---:|---:|---:|"]
    for j in journals:
        q = next((v.figures for v in j.verdicts if v.kind == "queries"), {})
        b = next((v.figures for v in j.verdicts if v.kind == "budget"), {})
        consumed = b.get("budget_consumed")
        lines.append(f"| [{j.experiment}](#{j.experiment}) | {j.status.upper()} | {q.get('queries', '—')} | "
                     f"{q.get('failed', '—')} | {q.get('lost', '—')} | "
                     f"{'—' if consumed is None else f'{consumed * 100:.3g}%'} |")
    lines.append("")
    for j in journals:
        extra = {}
        mine = [d for d in diagnoses if d.extra.get("experiment") == j.experiment]
        if mine:
            extra["On-call diagnosis captured when the page fired"] = "\n\n".join(
                f"**{d.alert}** {d.labels.get('engine', '')} (fired {_fmt(d.fired_s)} s after the fault)\n\n"
                + diagnosis_markdown(d) for d in mine)
        lines.append(experiment_section(j, charts.get(j.experiment), level=3, extra=extra))
    fu = followups(journals) + [f"[goal] {g.description}: {_fmt(g.measured)} (limit {g.comparison} {g.limit:g})"
                                for g in goals if not g.ok]
    lines += ["## Follow-ups", *([f"- {x}" for x in fu] or ["- none: every goal met"]), ""]
    return "\n".join(lines)


def _result(goal: Goal) -> str:
    if goal.ok:
        return "PASS"
    return "NOT MET (evidence)" if goal.evidence else "FAIL"
