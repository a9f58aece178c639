"""The feature frames a drift report compares: one row per interaction, one column per feature.

Each interaction becomes one row (rating, how popular its item and how active its user were in
the reference period, genre flags, user demographics), on scales that do not depend on the
period's size, so a small test period and a large training period can be compared column by
column. Nothing here knows Evidently; ``mtrec.reports.drift`` hands these frames to it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

GENRE_SEPARATOR = "|"
GENRE_PREFIX = "genre_"
MAX_CATEGORIES = 50
"""A text user column with more distinct values than this (zip codes, ids) is not a feature."""

_BASE_NUMERICAL = ("rating", "item_popularity", "user_activity")
_ID_COLUMNS = ("user_id", "user_idx")


def _genres(items: pd.DataFrame) -> list[str]:
    names: set[str] = set()
    for joined in items["genres"].fillna("").astype(str):
        names.update(g for g in joined.split(GENRE_SEPARATOR) if g)
    return sorted(names)


def _genre_flags(item_ids: pd.Series, items: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per genre, 1 where the row's item has it: looked up in an items x genres table, so the
    cost is one row gather, not one Python set per interaction. Unknown items have none."""
    catalogue = items.drop_duplicates("item_id")
    genres = _genres(items)
    table = np.zeros((len(catalogue) + 1, len(genres)), dtype=np.int64)  # last row: unknown
    column = {genre: j for j, genre in enumerate(genres)}
    for i, joined in enumerate(catalogue["genres"].fillna("").astype(str)):
        for genre in joined.split(GENRE_SEPARATOR):
            if genre:
                table[i, column[genre]] = 1
    rows = pd.Index(catalogue["item_id"]).get_indexer(item_ids)  # -1: the last, empty row
    flags = table[rows]
    return {genre: flags[:, j] for j, genre in enumerate(genres)}


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

    for genre, flags in _genre_flags(interactions["item_id"], items).items():
        features[GENRE_PREFIX + genre] = flags

    numerical, categorical = _demographic_columns(users)
    if users is not None and numerical + categorical:
        profiles = users.drop_duplicates("user_id").set_index("user_id")
        for column in numerical + categorical:
            features[column] = interactions["user_id"].map(profiles[column]).to_numpy()
    return features


def sample_rows(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """At most ``max_rows`` rows of ``frame``, drawn at random with ``seed``; all when fewer.
    Which positions are drawn depends only on the row count, ``max_rows`` and ``seed``."""
    if len(frame) <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=seed).reset_index(drop=True)


def testable_columns(
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
