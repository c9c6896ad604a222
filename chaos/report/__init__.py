"""Reports: markdown in the game day template, JSON, and PNG charts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from chaos.journal import Journal
from chaos.report.charts import experiment_chart
from chaos.report.markdown import experiment_document, experiment_section, followups


def chart_for(journal: Journal, df: pd.DataFrame, path: Path) -> Path:
    spec = journal.experiment_raw.get("slo", {})
    from foundation.durations import parse_duration

    return experiment_chart(df, journal.faults, journal.load_t0, max(journal.load_t1, journal.load_t0 + 1), path,
                            title=f"{journal.experiment} ({journal.status})",
                            objective=float(spec.get("objective", 0.999)),
                            period_s=parse_duration(spec.get("period", "12h")))


def write_experiment_report(journal: Journal, df: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    """report.md, report.json and chart.png for one experiment run, next to its journal."""
    out_dir.mkdir(parents=True, exist_ok=True)
    chart = chart_for(journal, df, out_dir / "chart.png")
    md = out_dir / "report.md"
    md.write_text(experiment_document(journal, chart.name))
    js = out_dir / "report.json"
    js.write_text(json.dumps(journal.to_dict(), indent=2, default=str))
    return {"markdown": md, "json": js, "chart": chart}


__all__ = ["chart_for", "experiment_chart", "experiment_document", "experiment_section", "followups",
           "write_experiment_report"]
