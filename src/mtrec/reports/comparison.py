"""The model comparison as one self-contained HTML page."""

from __future__ import annotations

from typing import Any

import pandas as pd

from mtrec.config import metric_direction
from mtrec.reports.pages import render_page


def render_comparison_html(table: pd.DataFrame, title: str, notes: list[str]) -> str:
    """``table`` from :func:`mtrec.workflows.comparison.comparison_table`; the best value of
    each metric column is bold, judged in the metric's direction. A row with a ``skipped``
    reason shows the reason across its metric cells."""
    columns = [c for c in table.columns if c != "skipped"]
    metric_columns = [c for c in columns if c != "kind"]
    best: dict[str, Any] = {}
    for column in metric_columns:
        values = pd.to_numeric(table[column], errors="coerce").dropna()
        if len(values) and column not in ("best_epoch", "train_seconds"):
            best[column] = values.max() if metric_direction(column) == "max" else values.min()
    return render_page(
        "comparison.html.j2",
        title=title,
        notes=notes,
        columns=columns,
        metric_columns=metric_columns,
        rows=list(table.iterrows()),
        best=best,
    )
