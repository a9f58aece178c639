"""``reports/index.html``: one row per run, newest first, linking to that run's pages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mtrec.reports.pages import render_page

# Report folders that are not training runs, linked above the runs table when present.
OTHER_REPORTS = {"comparison": "model comparison", "backtest": "retraining backtest"}
RUN_PAGES = ("evaluation.html", "drift.html", "validation.html")


@dataclass(frozen=True)
class RunRow:
    """One run's row of the index."""

    finished: datetime
    name: str
    version: str
    stage: str
    decision: str
    ndcg: float | None
    recall: float | None
    popularity_ndcg: float | None
    drift: str
    pages: tuple[str, ...]
    """The run's pages that exist, linked."""


def _row(run_dir: Path, metrics: dict[str, Any]) -> RunRow:
    test = metrics.get("test", {})
    promotion = metrics.get("promotion", {})

    def num(values: dict[str, Any], key: str) -> float | None:
        value = values.get(key)
        return float(value) if isinstance(value, int | float) else None

    return RunRow(
        finished=datetime.fromtimestamp((run_dir / "metrics.json").stat().st_mtime, UTC),
        name=run_dir.name,
        version=str(promotion.get("version", "n/a")),
        stage=str(metrics.get("stage", "n/a")),
        decision="promoted" if promotion.get("promote") else "kept production",
        ndcg=num(test, "ndcg@10"),
        recall=num(test, "recall@10"),
        popularity_ndcg=num(metrics.get("baselines", {}).get("popularity", {}), "ndcg@10"),
        drift="yes" if metrics.get("drift", {}).get("drift_detected") else "no",
        pages=tuple(page for page in RUN_PAGES if (run_dir / page).is_file()),
    )


def render_index(reports_dir: Path) -> str:
    """The index page for every ``<run>/metrics.json`` under ``reports_dir``."""
    runs = []
    for metrics_file in reports_dir.glob("*/metrics.json"):
        if metrics_file.parent.is_symlink():
            continue  # ``latest`` points at a run already listed
        try:
            metrics = json.loads(metrics_file.read_text("utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(metrics, dict) and "run" in metrics:  # a training run's export
            runs.append((metrics_file.parent, metrics))
    runs.sort(key=lambda run: run[0].stat().st_mtime, reverse=True)
    others = [
        (name, label)
        for name, label in OTHER_REPORTS.items()
        if (reports_dir / name / "index.html").is_file()
    ]
    return render_page(
        "index.html.j2",
        title="mtrec runs",
        others=others,
        runs=[_row(run_dir, metrics) for run_dir, metrics in runs],
    )
