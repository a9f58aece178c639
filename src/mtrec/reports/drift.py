"""Data-drift report between two interaction periods, computed by Evidently 0.7.

The reference period is the training data; the current period is whatever the model now meets
(usually the test period). Each interaction becomes one feature row (rating, how popular its
item and how active its user were in the reference period, genre flags, user demographics);
Evidently's ``DataDriftPreset`` then tests every feature column and counts the drifted ones.
The HTML page and the summary both come from the same Evidently snapshot, so the numbers in
the summary are exactly the ones the page shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

from mtrec.config import DriftConfig

GENRE_SEPARATOR = "|"
GENRE_PREFIX = "genre_"
MAX_CATEGORIES = 50
"""A text user column with more distinct values than this (zip codes, ids) is not a feature."""

_BASE_NUMERICAL = ("rating", "item_popularity", "user_activity")
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
        if column == "user_id" or column in _BASE_NUMERICAL or column.startswith(GENRE_PREFIX):
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
        return [c for c in columns if reference[c].notna().any() and current[c].notna().any()]

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


def run_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    items: pd.DataFrame,
    users: pd.DataFrame | None,
    config: DriftConfig,
) -> tuple[str, DriftSummary]:
    """Evidently's data-drift HTML page and its parsed summary for ``current`` vs ``reference``.

    Each period is sampled down to ``config.max_rows`` rows (seeded), which bounds the runtime.
    The HTML barely depends on the row count, since Evidently 0.7 plots aggregated data: about
    3.6 MB is its embedded JS bundle and font, plus roughly 26 KB per tested column.
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
    columns = numerical + categorical
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    preset = DataDriftPreset(columns=columns, drift_share=config.drift_share_threshold)
    # include_tests makes Evidently record each column's drift verdict, which the summary reads.
    snapshot = Report([preset], include_tests=True).run(
        current_data=Dataset.from_pandas(cur_features[columns], data_definition=definition),
        reference_data=Dataset.from_pandas(ref_features[columns], data_definition=definition),
    )
    summary = _parse_snapshot(
        snapshot.dict(), config.drift_share_threshold, len(ref_features), len(cur_features)
    )
    return snapshot.get_html_str(as_iframe=False), summary
