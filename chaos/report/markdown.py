"""The game day template in markdown: hypothesis, blast radius, abort criteria, timeline, observations
against expectations, budget consumed, verdict, follow-ups — for one experiment or a whole game day."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from chaos.journal import Journal
from chaos.verdicts.alerts import label_summary
from chaos.verdicts.base import Verdict

#: Platform events worth a line in a timeline; the rest (backoff, probes) stay in the journal.
TIMELINE_EVENTS = ("pod_signaled", "pod_exited", "pod_unready", "pod_unhealthy", "pod_ready", "pod_restarted",
                   "drain_started", "drain_finished", "active_clusters_switched", "operation_started",
                   "operation_finished")
MAX_TIMELINE_ROWS = 40
#: Figures the figures list leaves to the JSON: timestamps, and lists the notes already spell out.
HIDDEN_FIGURES = frozenset({"per_pod", "fault_ts", "term_ts", "step", "action", "false_pages", "window_start",
                            "window_end", "delays_s"})


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


def _ok(ok: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "info"}[ok]


def hypothesis_lines(spec: Mapping[str, Any]) -> list[str]:
    h = spec.get("hypothesis", {})
    out = []
    for key, value in h.items():
        if isinstance(value, Mapping) and set(value) == {"max"}:
            out.append(f"- {key.replace('_', ' ')} <= {value['max']}")
        elif key == "alerts":
            for a in value.get("expect", []):
                within = a.get("within_s") or a.get("within", "")
                out.append(f"- alert {a['name']} {a.get('labels', {}) or ''} fires within {within}")
            for name in value.get("forbid", []):
                out.append(f"- alert {name} does not fire")
            for b in value.get("background", []):
                name, labels = (b, {}) if isinstance(b, str) else (b["name"], b.get("labels", {}))
                out.append(f"- alert {name} {labels or ''} may fire before the fault (background)".replace("  ", " "))
        elif key == "impact":
            out.append(f"- impact: time to mitigate <= {value.get('time_to_mitigate_s', '—')} s (the node's share "
                       f"<= {value.get('mitigated_share', 0.05)} of its pre-fault share over "
                       f"{value.get('window_s', 2)} s windows)")
        elif isinstance(value, Mapping):
            out.append(f"- {key}: " + ", ".join(f"{k} <= {v}" if k != "exit_code" else f"exit code {v}"
                                                for k, v in value.items()))
    return [*out, "- no alert fires under load before the first fault (always judged: a false page fails the run)"]


def timeline_rows(journal: Journal) -> list[tuple[float, str]]:
    t0 = journal.load_t0
    rows: list[tuple[float, str]] = [(0.0, "load starts")]
    for f in journal.faults:
        rows.append((f.ts - t0, f"**{f.action}** {', '.join(f.pods) or f.target}: "
                                + ("; ".join(f.evidence) if f.injected else f"NOT injected ({f.error})")))
        if f.lifted_ts is not None and f.lifted_ts - f.ts > 0.5:
            rows.append((f.lifted_ts - t0, f"{f.action} lifted"))
    repeated: dict[tuple[str, str], int] = {}
    for e in journal.events:
        kind = str(e.get("kind"))
        if kind not in TIMELINE_EVENTS:
            continue
        key = (kind, str(e.get("pod") or e.get("engine")))
        repeated[key] = repeated.get(key, 0) + 1
        if repeated[key] > 3:
            continue  # a sustained fault repeats itself; the journal keeps every event
        extra = {k: v for k, v in e.items() if k not in ("seq", "ts", "kind", "engine", "cluster", "pod")}
        who = e.get("pod") or e.get("engine") or ""
        rows.append((float(e["ts"]) - t0, f"{kind} {who} {_fmt(extra) if extra else ''}".strip()))
    for a in journal.alerts:
        labels = label_summary(a.labels)
        if a.active_at is not None:
            rows.append((a.active_at - t0, f"alert **{a.name}** {labels} fires (Prometheus)"))
        if a.first_seen is not None and a.source == "alertmanager":
            rows.append((a.first_seen - t0, f"alert {a.name} {labels} in Alertmanager"))
    for reason in journal.aborts:
        rows.append((journal.load_t1 - t0, f"**ABORT**: {reason}"))
    rows.append((journal.load_t1 - t0, "load ends; rollbacks: " + "; ".join(
        f"{r.action} {'ok' if r.ok else 'FAILED'}" for r in journal.rollbacks)))
    rows.sort(key=lambda r: r[0])
    if len(rows) > MAX_TIMELINE_ROWS:
        rows = rows[: MAX_TIMELINE_ROWS - 1] + [(rows[-1][0], f"... {len(rows) - MAX_TIMELINE_ROWS + 1} more in "
                                                               "journal.json")]
    return rows


def observations_table(verdicts: Sequence[Verdict]) -> list[str]:
    lines = ["| verdict | criterion | expected | observed | result |", "|---|---|---|---|---|"]
    for v in verdicts:
        for c in v.criteria:
            if c.ok is None and v.kind not in ("failover", "drain", "recovery", "budget", "impact"):
                continue
            lines.append(f"| {v.kind} | {c.name} | {c.expected or '—'} | {_fmt(c.observed)} | {_ok(c.ok)} |")
    return lines


def figures_lines(verdicts: Sequence[Verdict]) -> list[str]:
    out = []
    for v in verdicts:
        shown = {k: x for k, x in v.figures.items() if k not in HIDDEN_FIGURES}
        out.append(f"- **{v.kind}** ({v.subject}): " + ", ".join(f"{k} {_fmt(x)}" for k, x in shown.items()))
        out += [f"  - {n}" for n in v.notes]
    return out


def impact_table(verdicts: Sequence[Verdict], h: str) -> list[str]:
    """Detection, mitigation and what clients felt, per step: the lines a debrief starts from."""
    rows = [v for v in verdicts if v.kind == "impact"]
    if not rows:
        return []

    def p99(f: Mapping[str, Any], phase: str) -> str:
        return f"{_fmt(f.get(f'latency_{phase}_p99_s'))} s (n={f.get(f'queries_{phase}')})"

    lines = [f"{h}# Detection, mitigation, latency", "",
             "| step | repetitions | time to detect | time to mitigate | p99 before | p99 during | p99 after |",
             "|---|---:|---|---|---|---|---|"]
    for v in rows:
        f = v.figures
        detect = "—" if f.get("time_to_detect_s") is None else \
            f"{_fmt(f['time_to_detect_s'])} s ({f.get('detected_by')})"
        mitigate = "—" if f.get("time_to_mitigate_s") is None else f"{_fmt(f['time_to_mitigate_s'])} s"
        lines.append(f"| {v.subject} | {f.get('repetitions')} | {detect} | {mitigate} | {p99(f, 'before')} | "
                     f"{p99(f, 'during')} | {p99(f, 'after')} |")
    return [*lines, ""]


def experiment_section(journal: Journal, chart: str | None, level: int = 2,
                       extra: Mapping[str, str] | None = None) -> str:
    h = "#" * level
    spec = journal.experiment_raw
    lines = [f"{h} {journal.experiment} — {journal.status.upper()}", ""]
    if journal.description:
        lines += [journal.description, ""]
    lines += [f"{h}# Hypothesis", *hypothesis_lines(spec), ""]
    br = spec.get("blast_radius", {})
    planned = sorted({p for s in journal.plan for p in s.get("pods", [])})
    lines += [f"{h}# Blast radius",
              f"- at most {br.get('max_pods', 1)} pod(s); keep >= {br.get('min_ready_nodes_per_engine', 1)} ready "
              f"node(s) per engine" + ("; engine outage allowed" if br.get("allow_engine_outage") else ""),
              f"- planned targets: {', '.join(planned) or '—'}; hit: "
              f"{', '.join(sorted({p for f in journal.faults for p in f.pods})) or '—'}", ""]
    conds = spec.get("abort", {}).get("conditions", [])
    lines += [f"{h}# Abort criteria", *([f"- {json.dumps(c)}" for c in conds] or ["- (none)"])]
    lines += [f"- tripped: {'; '.join(journal.aborts)}" if journal.aborts else "- none tripped", ""]
    lines += [f"{h}# Timeline", "", "| t (s) | what |", "|---:|---|"]
    lines += [f"| {t:+.2f} | {what} |" for t, what in timeline_rows(journal)]
    lines += ["", f"{h}# Observations against expectations", "", *observations_table(journal.verdicts), ""]
    lines += [f"{h}# Figures", *figures_lines(journal.verdicts), ""]
    lines += impact_table(journal.verdicts, h)
    rec = journal.reconciliation
    if rec:
        lines += [f"- **reconciliation**: sent {rec.get('sent')}, outcomes {rec.get('ledger_outcomes')}, "
                  f"gateway mismatch {_fmt(rec.get('gateway_mismatch'))}, nodes {_fmt(rec.get('nodes'))}", ""]
    budget = next((v for v in journal.verdicts if v.kind == "budget"), None)
    if budget is not None:
        f = budget.figures
        lines += [f"{h}# Budget consumed",
                  f"- {_fmt(f.get('bad_events'))} bad of {_fmt(f.get('events'))} queries "
                  f"(error ratio {_fmt(f.get('error_ratio'))}, burn rate {_fmt(f.get('burn_rate'))}x): "
                  f"**{_pct(f.get('budget_consumed'))}** of the {budget.subject} budget"
                  + (f"; Prometheus says {_pct(f.get('prometheus_budget_consumed'))}"
                     if f.get("prometheus_budget_consumed") is not None else ""), ""]
    else:
        lines += [f"{h}# Budget consumed", "- not measured", ""]
    for title, body in (extra or {}).items():
        lines += [f"{h}# {title}", "", body, ""]
    if chart:
        lines += [f"![{journal.experiment}]({chart})", ""]
    reasons = journal.reasons()
    lines += [f"{h}# Verdict", f"**{journal.status.upper()}**" + (":" if reasons else ""),
              *[f"- {r}" for r in reasons], *[f"- note: {n}" for n in journal.notes], ""]
    return "\n".join(lines)


def _pct(v: Any) -> str:
    return "—" if v is None else f"{float(v) * 100:.3g}%"


def followups(journals: Sequence[Journal]) -> list[str]:
    """One follow-up per failed expectation, aborted run or rollback failure: what a debrief starts from."""
    out = []
    for j in journals:
        out += [f"[{j.experiment}] {r}" for r in j.reasons()]
        for v in j.verdicts:
            out += [f"[{j.experiment}] check: {n}" for n in v.notes if "not exercised" in n or "not injected" in n]
    return out


def experiment_document(journal: Journal, chart: str | None) -> str:
    when = datetime.fromtimestamp(journal.started, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    body = experiment_section(journal, chart, level=2)
    fu = followups([journal])
    return "\n".join([f"# Chaos experiment {journal.experiment}", "", f"Run at {when} from `{journal.source}`.", "",
                      body, "## Follow-ups", *([f"- {x}" for x in fu] or ["- none"]), ""])
