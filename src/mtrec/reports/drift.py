"""Data-drift report between two interaction periods, computed by Evidently 0.7.

The reference period is the training data; the current period is whatever the model now meets
(usually the test period). Both become feature frames (``mtrec.reports.drift_features``);
Evidently's ``DataDriftPreset`` then tests every feature column and counts the drifted ones.
The HTML page and the summary (``mtrec.reports.drift_snapshot``) both come from the same
Evidently snapshot, so the numbers in the summary are exactly the ones the page shows, unless
the page had to be drawn again to stay under ``DriftConfig.max_html_mb``; it then says so at
its top (``mtrec.reports.drift_page``) and lists the summary's verdicts.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from mtrec.config import DriftConfig
from mtrec.reports.drift_features import build_drift_features, sample_rows, testable_columns
from mtrec.reports.drift_page import annotate_page, page_mb
from mtrec.reports.drift_snapshot import ColumnDrift, DriftSummary, summarise_snapshot

__all__ = ["MIN_PAGE_ROWS", "ColumnDrift", "DriftSummary", "run_drift_report"]

MIN_PAGE_ROWS = 1001
"""Rows per period below which the page is not sampled further to meet the size cap. Evidently
picks p-value tests for 1000 reference rows or fewer and distances above; staying above keeps
the page on the same tests as a summary drawn from more rows."""


def _evidently(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: list[str],
    categorical: list[str],
    threshold: float,
) -> Any:
    """Evidently's snapshot of ``DataDriftPreset`` over the given columns."""
    # Imported here: Evidently takes seconds to import, and every pipeline run imports this
    # module to define its steps, cached runs included.
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    columns = numerical + categorical
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    preset = DataDriftPreset(columns=columns, drift_share=threshold)
    # include_tests makes Evidently record each column's drift verdict, which the summary reads.
    return Report([preset], include_tests=True).run(
        current_data=Dataset.from_pandas(current[columns], data_definition=definition),
        reference_data=Dataset.from_pandas(reference[columns], data_definition=definition),
    )


def _page_under_cap(
    page: str,
    summary: DriftSummary,
    features: tuple[pd.DataFrame, pd.DataFrame],
    columns: tuple[list[str], list[str]],
    totals: tuple[int, int],
    config: DriftConfig,
) -> tuple[str, DriftSummary]:
    """Evidently's ``page`` for the (reference, current) ``features`` and (numerical,
    categorical) ``columns``, annotated, and drawn again smaller while over the cap.

    Rows are halved first, down to ``MIN_PAGE_ROWS``, then columns, drifted ones kept first;
    the returned summary says what the last page shows (``page_rows``, ``page_columns``).
    """
    ref_features, cur_features = features
    numerical, categorical = columns

    def note(page: str, shown: DriftSummary) -> str:
        return annotate_page(page, shown, totals, config.seed, config.max_html_mb)

    page = note(page, summary)
    rows = max(len(ref_features), len(cur_features))
    # Drifted columns first, each group in the report's own order.
    ranked = [c.column for c in summary.columns if c.drifted]
    ranked += [c.column for c in summary.columns if not c.drifted]
    keep = len(ranked)
    while page_mb(page) >= config.max_html_mb:
        if rows > MIN_PAGE_ROWS:
            rows = max(MIN_PAGE_ROWS, rows // 2)
        elif keep > 1:
            keep = max(1, keep // 2)
        else:
            break  # one column on a small sample: the cap is below Evidently's own size
        shown = set(ranked[:keep])
        ref_page = sample_rows(ref_features, rows, config.seed)
        cur_page = sample_rows(cur_features, rows, config.seed)
        redrawn = _evidently(
            ref_page,
            cur_page,
            [c for c in numerical if c in shown],
            [c for c in categorical if c in shown],
            config.drift_share_threshold,
        )
        page_rows = (len(ref_page), len(cur_page))
        summary = replace(
            summary,
            page_rows=None if page_rows == (len(ref_features), len(cur_features)) else page_rows,
            page_columns=None if keep == len(ranked) else keep,
        )
        page = note(redrawn.get_html_str(as_iframe=False), summary)
    return page, summary


def run_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    items: pd.DataFrame,
    users: pd.DataFrame | None,
    config: DriftConfig,
) -> tuple[str, DriftSummary]:
    """Evidently's data-drift HTML page and its parsed summary for ``current`` vs ``reference``.

    Each period is sampled down to ``config.max_rows`` rows (seeded), which bounds the runtime;
    the summary always comes from that sample and every testable column, so the retraining
    trigger never depends on the page's size. The page stays under ``config.max_html_mb``:
    about 3.8 MB of it is Evidently's embedded script and font, plus 20-30 KB per column; the
    row count adds at most a few KB per column (its plots are aggregated). So an oversized page
    is drawn again from halved samples down to ``MIN_PAGE_ROWS`` and then, if still too big,
    from the drifted columns first, halving their number; the page says so at its top.
    """
    if reference.empty or current.empty:
        raise ValueError(
            f"drift needs interactions in both periods: reference has {len(reference)} rows, "
            f"current has {len(current)}"
        )
    # Rows are drawn before their features are built (the same rows as drawing afterwards:
    # a draw depends only on the row count), so the cost follows max_rows, not the log.
    ref_features = build_drift_features(
        sample_rows(reference, config.max_rows, config.seed), reference, items, users
    )
    cur_features = build_drift_features(
        sample_rows(current, config.max_rows, config.seed), reference, items, users
    )
    numerical, categorical = testable_columns(ref_features, cur_features, users)
    threshold = config.drift_share_threshold
    snapshot = _evidently(ref_features, cur_features, numerical, categorical, threshold)
    summary = summarise_snapshot(snapshot, threshold, len(ref_features), len(cur_features))
    return _page_under_cap(
        snapshot.get_html_str(as_iframe=False),
        summary,
        (ref_features, cur_features),
        (numerical, categorical),
        (len(reference), len(current)),
        config,
    )
