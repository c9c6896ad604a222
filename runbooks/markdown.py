"""The runbook pages, runbooks/<AlertName>.md, rendered from the playbooks.

Meaning and impact are the playbook's words; the diagnosis steps and their PromQL come from the very
checks that `enginewatch runbook` runs, so a page cannot drift from the command. ``python -m
runbooks`` writes the pages; a test fails when they are stale.
"""

from __future__ import annotations

from pathlib import Path

from alerts import platform as pl
from runbooks.diagnosis import Scope, check_runs
from runbooks.playbooks import registry
from runbooks.playbooks.model import PLACEHOLDERS, Playbook

HERE = Path(__file__).resolve().parent
SECTIONS: tuple[str, ...] = ("Meaning", "Impact", "Diagnosis", "Mitigation")
_ENGINE = PLACEHOLDERS["engine"]


def path_of(alert: str) -> Path:
    return HERE / f"{alert}.md"


_SLO_TIERS = {"critical": "critical (page tier)", "warning": "warning (ticket tier)"}


def _severity(book: Playbook) -> str:
    if book.kind == "slo":
        from slo import platform_slos, rules

        found = dict.fromkeys(r["labels"]["severity"] for g in rules.generate(platform_slos()) for grp in g.groups
                              for r in grp["rules"] if r.get("alert") == book.alert)
        return " or ".join(_SLO_TIERS.get(s, s) for s in found) or "critical (page tier) or warning (ticket tier)"
    severities = dict.fromkeys(r.severity for r in pl.rules("local") if r.name == book.alert)
    return " or ".join(severities)


_SOURCE_NAMES = {"prometheus": "Prometheus", "orchestrator": "the orchestrator", "gateway": "the gateway",
                 "loki": "Loki"}
_API_NAMES = {"prometheus": "Prometheus API", "orchestrator": "orchestrator API",
              "gateway": "gateway admin API (admin token)", "loki": "Loki API"}


def _query_block(query: str, source: str) -> str:
    if query.startswith("GET "):
        return f"   {_API_NAMES.get(source, source)}: `{query}`"
    indented = "\n".join(f"   {line}" for line in query.splitlines())
    language = "logql" if source == "loki" else "promql"
    return f"   ```{language}\n{indented}\n   ```"


def render(book: Playbook) -> str:
    command = f"enginewatch runbook {book.alert} --engine {_ENGINE}"
    steps = []
    for run in check_runs(book, Scope(engine=_ENGINE)):
        source = _SOURCE_NAMES.get(run.source, run.source)
        steps.append(f"{run.step}. **{run.title}** ({source}):\n\n   ```sh\n   {command} --step {run.step}\n   ```\n\n"
                     + "\n\n".join(_query_block(q, run.source) for q in run.queries))
    mitigations = [f"{n}. {m.why[:1].upper()}{m.why[1:]}:\n\n   ```sh\n   {m.render()}\n   ```"
                   for n, m in enumerate(book.mitigations, 1)]
    lines = [
        f"# {book.alert}",
        "",
        "<!-- Generated from runbooks/playbooks/ by `python -m runbooks`. DO NOT EDIT. -->",
        "",
        f"**{book.summary}** Severity: {_severity(book)}.",
        "",
        "## Meaning",
        "",
        book.meaning,
        "",
        "## Impact",
        "",
        book.impact,
        "",
        "## Diagnosis",
        "",
        "Run every step against the live Prometheus and orchestrator; the findings come in plain words, then",
        "the mitigation commands with the engine, pod and clusters filled in (`--json` for a report, "
        "`--cluster C` to narrow):",
        "",
        f"```sh\n{command}\n```",
        "",
        "The steps, each also runnable alone, and what they query:",
        "",
        "\n\n".join(steps),
        "",
        "## Mitigation",
        "",
        "Each command shows what it will do and asks for confirmation (`--yes` for automation); it refuses",
        "engines, clusters and pods the orchestrator does not know. Upper-case words are what the diagnosis",
        "fills in.",
        "",
        "\n\n".join(mitigations),
        "",
    ]
    return "\n".join(lines)


def pages() -> dict[Path, str]:
    return {path_of(alert): render(book) for alert, book in registry().items()}


def sections(text: str) -> list[str]:
    """The level-2 headings of a page, in order."""
    return [line[3:].strip() for line in text.splitlines() if line.startswith("## ")]
