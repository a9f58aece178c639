"""``reports/index.html``: one row per run, newest first, linking to that run's pages."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Report folders that are not training runs, linked above the runs table when present.
OTHER_REPORTS = {"comparison": "model comparison", "backtest": "retraining backtest"}


def _row(run_dir: Path, metrics: dict[str, Any]) -> str:
    test = metrics.get("test", {})
    popularity = metrics.get("baselines", {}).get("popularity", {})
    promotion = metrics.get("promotion", {})
    drift = metrics.get("drift", {})
    links = " ".join(
        f"<a href='{html.escape(run_dir.name)}/{page}'>{page.split('.')[0]}</a>"
        for page in ("evaluation.html", "drift.html", "validation.html")
        if (run_dir / page).is_file()
    )
    promoted = "promoted" if promotion.get("promote") else "kept production"
    finished = datetime.fromtimestamp((run_dir / "metrics.json").stat().st_mtime, UTC)

    def num(values: dict[str, Any], key: str) -> str:
        value = values.get(key)
        return f"{value:.4f}" if isinstance(value, int | float) else "n/a"

    return (
        f"<tr><td>{finished:%Y-%m-%d %H:%M}</td><td>{html.escape(run_dir.name)}</td>"
        f"<td>{html.escape(str(promotion.get('version', 'n/a')))}</td>"
        f"<td>{html.escape(str(metrics.get('stage', 'n/a')))}</td><td>{promoted}</td>"
        f"<td>{num(test, 'ndcg@10')}</td><td>{num(test, 'recall@10')}</td>"
        f"<td>{num(popularity, 'ndcg@10')}</td>"
        f"<td>{'yes' if drift.get('drift_detected') else 'no'}</td><td>{links}</td></tr>"
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
    rows = "".join(_row(run_dir, metrics) for run_dir, metrics in runs)
    others = " · ".join(
        f"<a href='{name}/index.html'>{label}</a>"
        for name, label in OTHER_REPORTS.items()
        if (reports_dir / name / "index.html").is_file()
    )
    return (
        # data: icon: without it the browser asks the server for /favicon.ico and logs a 404.
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><link rel='icon' href='data:,'>"
        "<title>mtrec runs</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:"
        "collapse}td,th{padding:.3rem .7rem;border-bottom:1px solid #e4e7eb;text-align:left}"
        "</style></head><body><h1>mtrec runs</h1>"
        f"{f'<p>Also: {others}</p>' if others else ''}"
        "<table><tr><th>finished (UTC)</th><th>run</th><th>model version</th>"
        "<th>stage at export</th><th>decision</th><th>test ndcg@10</th><th>test recall@10</th>"
        "<th>popularity ndcg@10</th><th>drift</th><th>pages</th></tr>"
        f"{rows}</table></body></html>"
    )
