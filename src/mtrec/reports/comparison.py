"""The model comparison as one self-contained HTML page."""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

from mtrec.config import metric_direction
from mtrec.reports.evaluation import STYLE


def render_comparison_html(table: pd.DataFrame, title: str, notes: list[str]) -> str:
    """``table`` from :func:`mtrec.experiments.comparison.comparison_table`; the best value of
    each metric column is bold, judged in the metric's direction. A row with a ``skipped``
    reason shows the reason across its metric cells."""
    columns = [c for c in table.columns if c != "skipped"]
    metric_columns = [c for c in columns if c != "kind"]
    best: dict[str, Any] = {}
    for column in metric_columns:
        values = pd.to_numeric(table[column], errors="coerce").dropna()
        if len(values) and column not in ("best_epoch", "train_seconds"):
            best[column] = values.max() if metric_direction(column) == "max" else values.min()

    def cell(column: str, value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "<td>–</td>"
        text = (
            f"{value:.4f}"
            if isinstance(value, float) and column != "train_seconds"
            else (f"{value:.0f}" if isinstance(value, float) else html.escape(str(value)))
        )
        return f"<td><b>{text}</b></td>" if best.get(column) == value else f"<td>{text}</td>"

    def cells(row: pd.Series) -> str:
        reason = row.get("skipped")
        if isinstance(reason, str):
            return (
                cell("kind", row["kind"])
                + f"<td colspan='{len(metric_columns)}'>skipped: {html.escape(reason)}</td>"
            )
        return "".join(cell(c, row[c]) for c in columns)

    header = "".join(f"<th>{html.escape(c)}</th>" for c in ["model", *columns])
    rows = "".join(
        f"<tr><td>{html.escape(str(name))}</td>{cells(row)}</tr>" for name, row in table.iterrows()
    )
    items = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<ul>{items}</ul><table><tr>{header}</tr>{rows}</table></body></html>"
    )
