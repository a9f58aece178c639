"""The drift summary, read out of an Evidently 0.7 snapshot of ``DataDriftPreset``.

The preset computes one ``DriftedColumnsCount`` metric (how many columns drifted, and their
share) and one ``ValueDrift`` metric per column (its score and the stat test Evidently chose).
They are found through Evidently's own objects: the report's metrics, each one's typed result
(``CountValue``, ``SingleValue``) and the result's tests; no type-id strings are matched.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evidently import Run


@dataclass(frozen=True)
class ColumnDrift:
    """Evidently's verdict on one feature column."""

    column: str
    drifted: bool
    score: float
    """The p-value or distance Evidently reports; its meaning depends on ``method``."""
    method: str
    """Evidently's stat test name, e.g. ``K-S p_value`` or ``Jensen-Shannon distance``."""


@dataclass(frozen=True)
class DriftSummary:
    """Evidently's drift results, parsed out of the snapshot."""

    n_columns: int
    n_drifted: int
    drifted_share: float
    threshold: float
    drift_detected: bool
    """``drifted_share >= threshold``, the rule Evidently itself uses for dataset drift."""
    columns: tuple[ColumnDrift, ...]
    reference_rows: int
    """Rows of the reference period after sampling."""
    current_rows: int
    page_rows: tuple[int, int] | None = None
    """(reference, current) rows the HTML page was drawn from; ``None``: the summary's own."""
    page_columns: int | None = None
    """Columns the HTML page shows; ``None``: all ``n_columns``."""

    def to_dict(self) -> dict[str, object]:
        """A JSON-serialisable view; a non-finite score becomes ``None`` (JSON has no NaN)."""
        return {
            "n_columns": self.n_columns,
            "n_drifted": self.n_drifted,
            "drifted_share": self.drifted_share,
            "threshold": self.threshold,
            "drift_detected": self.drift_detected,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "page_rows": list(self.page_rows) if self.page_rows else None,
            "page_columns": self.page_columns,
            "columns": [
                {
                    "column": c.column,
                    "drifted": c.drifted,
                    "score": c.score if math.isfinite(c.score) else None,
                    "method": c.method,
                }
                for c in self.columns
            ],
        }


def _metrics(snapshot: Run) -> Iterator[Any]:
    """The report's metrics in its own order, presets opened into the metrics they made."""
    from evidently.core.container import MetricContainer

    for item in snapshot.report.items():
        if isinstance(item, MetricContainer):
            yield from item.list_metrics(snapshot.context)
        else:
            yield item


def _column_drift(metric: Any, result: Any) -> ColumnDrift:
    """One ``ValueDrift`` metric's verdict.

    Whether the column drifted is only recorded in the metric's test (status FAIL = drifted),
    because the verdict depends on the method (p-value below or distance above its threshold).
    The method Evidently resolved is only in the result's metric config (``metric.method`` stays
    ``None`` when the preset leaves the choice to Evidently): no typed accessor has it.
    """
    from evidently.core.metric_types import TestStatus

    if not result.tests:
        raise RuntimeError(f"Evidently recorded no drift test for column {metric.column!r}")
    return ColumnDrift(
        column=str(metric.column),
        drifted=result.tests[-1].status == TestStatus.FAIL,
        score=float(result.value),
        method=str(result.get_metric_value_location().metric.params["method"]),
    )


def summarise_snapshot(
    snapshot: Run, threshold: float, reference_rows: int, current_rows: int
) -> DriftSummary:
    """Evidently's own verdicts in ``snapshot`` (run with ``include_tests=True``), as a summary."""
    # Imported here: Evidently takes seconds to import (see mtrec.reports.drift).
    from evidently.metrics import DriftedColumnsCount, ValueDrift

    columns: list[ColumnDrift] = []
    n_drifted: int | None = None
    share: float | None = None
    for metric in _metrics(snapshot):
        result = snapshot.context.get_metric_result(metric)
        if isinstance(metric, DriftedColumnsCount):
            n_drifted = int(result.count.value)
            share = float(result.share.value)
        elif isinstance(metric, ValueDrift):
            columns.append(_column_drift(metric, result))
    if n_drifted is None or share is None:
        raise RuntimeError("Evidently snapshot has no DriftedColumnsCount result")
    return DriftSummary(
        n_columns=len(columns),
        n_drifted=n_drifted,
        drifted_share=share,
        threshold=threshold,
        drift_detected=share >= threshold,
        columns=tuple(columns),
        reference_rows=reference_rows,
        current_rows=current_rows,
    )
