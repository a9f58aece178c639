"""Data-drift report between two interaction periods, computed by Evidently 0.7.

The reference period is the training data; the current period is whatever the model now meets
(usually the test period). Each interaction becomes one feature row (rating, how popular its
item and how active its user were in the reference period, genre flags, user demographics);
Evidently's ``DataDriftPreset`` then tests every feature column and counts the drifted ones.
The HTML page and the summary both come from the same Evidently snapshot, so the numbers in
the summary are exactly the ones the page shows, unless the page had to be drawn again to stay
under ``DriftConfig.max_html_mb``; it then says so at its top and lists the summary's verdicts.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from mtrec.config import DriftConfig

GENRE_SEPARATOR = "|"
GENRE_PREFIX = "genre_"
MAX_CATEGORIES = 50
"""A text user column with more distinct values than this (zip codes, ids) is not a feature."""

MIN_PAGE_ROWS = 1001
"""Rows per period below which the page is not sampled further to meet the size cap. Evidently
picks p-value tests for 1000 reference rows or fewer and distances above; staying above keeps
the page on the same tests as a summary drawn from more rows."""

_BASE_NUMERICAL = ("rating", "item_popularity", "user_activity")
_ID_COLUMNS = ("user_id", "user_idx")
_VALUE_DRIFT = "evidently:metric_v2:ValueDrift"
_DRIFTED_COUNT = "evidently:metric_v2:DriftedColumnsCount"


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


def _genres(items: pd.DataFrame) -> list[str]:
    names: set[str] = set()
    for joined in items["genres"].fillna("").astype(str):
        names.update(g for g in joined.split(GENRE_SEPARATOR) if g)
    return sorted(names)


def _demographic_columns(users: pd.DataFrame | None) -> tuple[list[str], list[str]]:
    """(numerical, categorical) user columns worth testing for drift."""
    if users is None or users.empty:
        return [], []
    numerical: list[str] = []
    categorical: list[str] = []
    for column in users.columns:
        # user_idx is the pipeline's row index of the user: an identifier, not a trait.
        if column in _ID_COLUMNS or column in _BASE_NUMERICAL or column.startswith(GENRE_PREFIX):
            continue
        values = users[column]
        # bool is numeric to pandas, but a flag's drift is a shift in proportions.
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            numerical.append(column)
        elif values.nunique(dropna=True) <= MAX_CATEGORIES:
            categorical.append(column)
    return numerical, categorical


def _log_counts(keys: pd.Series, reference_keys: pd.Series) -> np.ndarray:
    # Counted in the reference period for both periods: counting each period in itself would
    # make a 10k-row test period look less popular than an 80k-row training period.
    counts = reference_keys.value_counts()
    return np.log1p(keys.map(counts).fillna(0).to_numpy(dtype=float))


def build_drift_features(
    interactions: pd.DataFrame,
    reference: pd.DataFrame,
    items: pd.DataFrame,
    users: pd.DataFrame | None,
) -> pd.DataFrame:
    """One feature row per interaction, on scales that do not depend on the period's size.

    ``item_popularity`` and ``user_activity`` are ``log1p`` of the item's and user's
    interaction counts in ``reference`` (0 when unseen there); ``genre_<name>`` is 1 when the
    item has that genre; user demographic columns are joined from ``users``. The timestamp is
    left out on purpose: two periods differ in time by definition, so it would always drift.
    """
    features = pd.DataFrame(index=pd.RangeIndex(len(interactions)))
    if "rating" in interactions.columns:  # an implicit log has none
        features["rating"] = interactions["rating"].to_numpy(dtype=float)
    features["item_popularity"] = _log_counts(interactions["item_id"], reference["item_id"])
    features["user_activity"] = _log_counts(interactions["user_id"], reference["user_id"])

    catalogue = items.drop_duplicates("item_id").set_index("item_id")["genres"]
    item_genres = interactions["item_id"].map(catalogue).fillna("").astype(str)
    genre_sets = [set(joined.split(GENRE_SEPARATOR)) for joined in item_genres]
    for genre in _genres(items):
        features[GENRE_PREFIX + genre] = np.fromiter(
            (genre in s for s in genre_sets), dtype=np.int64, count=len(genre_sets)
        )

    numerical, categorical = _demographic_columns(users)
    if users is not None and numerical + categorical:
        profiles = users.drop_duplicates("user_id").set_index("user_id")
        for column in numerical + categorical:
            features[column] = interactions["user_id"].map(profiles[column]).to_numpy()
    return features


def _sample(features: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    if len(features) <= max_rows:
        return features
    return features.sample(n=max_rows, random_state=seed).reset_index(drop=True)


def _testable_columns(
    reference: pd.DataFrame, current: pd.DataFrame, users: pd.DataFrame | None
) -> tuple[list[str], list[str]]:
    """(numerical, categorical) feature columns that hold a value in both periods.

    Evidently refuses a column that is empty in either period (e.g. ``age`` when no current
    user has a profile), so such a column is left out of the report rather than failing it.
    """
    demo_numerical, demo_categorical = _demographic_columns(users)
    # Genre flags are categorical: a 0/1 column's distribution is just the genre's share, which
    # Evidently tests as a proportion (Z-test on small samples, Jensen-Shannon on large ones).
    # As numerical columns they would get K-S / Wasserstein, which are built for continuous
    # values and say little about two-point distributions.
    genres = [c for c in reference.columns if c.startswith(GENRE_PREFIX)]

    def filled(columns: list[str]) -> list[str]:
        return [
            c
            for c in columns
            if c in reference.columns and reference[c].notna().any() and current[c].notna().any()
        ]

    return filled([*_BASE_NUMERICAL, *demo_numerical]), filled([*genres, *demo_categorical])


def _parse_snapshot(
    result: dict[str, Any], threshold: float, reference_rows: int, current_rows: int
) -> DriftSummary:
    """Read Evidently's own verdicts out of ``Snapshot.dict()``.

    A ``ValueDrift`` metric holds the column, the resolved method and the score; whether the
    column drifted is only recorded in its test ("drift" test, status FAIL = drifted), because
    the verdict depends on the method (p-value below or distance above its threshold).
    """
    drifted_by_metric = {
        t["metric_config"]["metric_id"]: t["status"] == "FAIL"
        for t in result["tests"]
        if t["metric_config"]["params"].get("type") == _VALUE_DRIFT
    }
    columns: list[ColumnDrift] = []
    n_drifted: int | None = None
    share: float | None = None
    for metric in result["metrics"]:
        config = metric["config"]
        if config["type"] == _DRIFTED_COUNT:
            n_drifted = int(metric["value"]["count"])
            share = float(metric["value"]["share"])
        elif config["type"] == _VALUE_DRIFT:
            columns.append(
                ColumnDrift(
                    column=str(config["column"]),
                    drifted=drifted_by_metric[metric["id"]],
                    score=float(metric["value"]),
                    method=str(config["method"]),
                )
            )
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


_NOTE_STYLE = (
    "font:14px/1.45 system-ui,sans-serif;color:#1f2933;background:#f0f4f8;"
    "border-bottom:1px solid #d9e2ec;padding:.6rem 1.2rem"
)


def _page_note(summary: DriftSummary, totals: tuple[int, int], seed: int, cap_mb: float) -> str:
    """What the reviewer must know before reading Evidently's page: the sampling and, when the
    page was redrawn to meet the cap, how it differs from the summary (with its verdicts)."""
    (ref_total, cur_total), esc = totals, html.escape
    sampled = (summary.reference_rows, summary.current_rows) != totals
    lines = [
        f"Rows: {summary.reference_rows:,} of {ref_total:,} reference interactions and "
        f"{summary.current_rows:,} of {cur_total:,} current ones, "
        + (f"sampled at random (seed {seed})." if sampled else "all of them.")
    ]
    if summary.page_rows is None and summary.page_columns is None:
        return f"<div style='{_NOTE_STYLE}'>{lines[0]}</div>"
    shown = []
    if summary.page_rows is not None:
        shown.append(
            f"a smaller sample ({summary.page_rows[0]:,} reference and "
            f"{summary.page_rows[1]:,} current rows)"
        )
    if summary.page_columns is not None:
        shown.append(f"{summary.page_columns} of the {summary.n_columns} columns (drifted first)")
    lines.append(
        f"To stay under the {cap_mb:g} MB cap, this page shows "
        f"{' and '.join(shown)}; Evidently's counts below cover only that. The drift summary "
        f"used the full sample and every column: <b>{summary.n_drifted} of "
        f"{summary.n_columns}</b> drifted (share {summary.drifted_share:.3f}, threshold "
        f"{summary.threshold:g}), drift detected <b>{'yes' if summary.drift_detected else 'no'}"
        "</b>."
    )
    rows = "".join(
        f"<tr><td>{esc(c.column)}</td><td>{esc(c.method)}</td><td>{c.score:.4g}</td>"
        f"<td>{'drifted' if c.drifted else ''}</td></tr>"
        for c in summary.columns
    )
    table = (
        "<details><summary>Every column's verdict in the summary</summary><table>"
        "<tr><th align=left>column</th><th align=left>test</th><th>score</th><th></th></tr>"
        f"{rows}</table></details>"
    )
    return f"<div style='{_NOTE_STYLE}'>{'<br>'.join(lines)}{table}</div>"


def _annotate(page: str, note: str) -> str:
    # A data: icon, or the browser asks the server for /favicon.ico and logs a 404.
    page = page.replace("<head>", "<head><link rel='icon' href='data:,'>", 1)
    return page.replace("<body>", "<body>" + note, 1)


def _mb(page: str) -> float:
    return len(page.encode("utf-8")) / 1e6


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
    ref_features = _sample(
        build_drift_features(reference, reference, items, users), config.max_rows, config.seed
    )
    cur_features = _sample(
        build_drift_features(current, reference, items, users), config.max_rows, config.seed
    )
    numerical, categorical = _testable_columns(ref_features, cur_features, users)
    threshold = config.drift_share_threshold
    snapshot = _evidently(ref_features, cur_features, numerical, categorical, threshold)
    summary = _parse_snapshot(snapshot.dict(), threshold, len(ref_features), len(cur_features))
    totals = (len(reference), len(current))

    def note(page: str, shown: DriftSummary) -> str:
        return _annotate(page, _page_note(shown, totals, config.seed, config.max_html_mb))

    page = note(snapshot.get_html_str(as_iframe=False), summary)
    rows = max(len(ref_features), len(cur_features))
    # Drifted columns first, each group in the report's own order.
    ranked = [c.column for c in summary.columns if c.drifted]
    ranked += [c.column for c in summary.columns if not c.drifted]
    keep = len(ranked)
    while _mb(page) >= config.max_html_mb:
        if rows > MIN_PAGE_ROWS:
            rows = max(MIN_PAGE_ROWS, rows // 2)
        elif keep > 1:
            keep = max(1, keep // 2)
        else:
            break  # one column on a small sample: the cap is below Evidently's own size
        shown = set(ranked[:keep])
        ref_page = _sample(ref_features, rows, config.seed)
        cur_page = _sample(cur_features, rows, config.seed)
        redrawn = _evidently(
            ref_page,
            cur_page,
            [c for c in numerical if c in shown],
            [c for c in categorical if c in shown],
            threshold,
        )
        page_rows = (len(ref_page), len(cur_page))
        summary = replace(
            summary,
            page_rows=None if page_rows == (len(ref_features), len(cur_features)) else page_rows,
            page_columns=None if keep == len(ranked) else keep,
        )
        page = note(redrawn.get_html_str(as_iframe=False), summary)
    return page, summary
