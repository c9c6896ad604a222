"""A diagnosis as on-call reads it in a terminal: what is wrong first, then what to run."""

from __future__ import annotations

from runbooks.diagnosis.model import Diagnosis

_MARK = {"problem": "✗", "ok": "✓", "info": "·"}
_HEADINGS = (("problem", "What is wrong"), ("info", "Also seen"), ("ok", "What looks fine"))


def text(d: Diagnosis, show_queries: bool = False) -> str:
    scope = d.scope
    where = f"engine {scope.engine}" if scope.engine else "all engines"
    if scope.cluster:
        where += f", cluster {scope.cluster}"
    lines = [f"{d.alert}: {d.summary}", f"scope: {where}, last {scope.window_text}", ""]
    for level, heading in _HEADINGS:
        found = [f for f in d.findings if f.level == level]
        if found:
            lines.append(heading)
            lines += [f"  {_MARK[level]} {f.text}" for f in found]
            lines.append("")
    if not d.problems and not d.unavailable:
        lines += ["Nothing wrong found now: the condition may have cleared (check the alert's history).", ""]
    for u in d.unavailable:
        lines.append(f"Could not check, {u.source} at {u.url} is unreachable ({u.error}):")
        lines += [f"  ? {title}" for title in u.not_checked]
        lines.append("")
    errors = [c for c in d.checks if c.status == "error"]
    for c in errors:
        lines.append(f"Step {c.step} ({c.title}) failed: {c.error}")
    if errors:
        lines.append("")
    if show_queries:
        lines.append("Steps run")
        for c in d.checks:
            lines.append(f"  {c.step}. {c.title} [{c.source}, {c.status}]")
            lines += [f"       {q}" for q in c.queries]
        lines.append("")
    if d.mitigations:
        lines.append("Mitigation (each command asks for confirmation; --yes in automation)")
        for m in d.mitigations:
            lines += [f"  $ {m.command}", f"      {m.why}"]
    return "\n".join(lines).rstrip() + "\n"
