"""The synthetic log generator: exact sizes, the generic schema, the invariants validation
demands, a power-law shape, time order, learnable ratings, and a round trip through Parquet."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.synthetic import (
    GENRE_SEPARATOR,
    GENRES,
    MIN_PER_USER,
    PERIOD,
    cached_synthetic,
    generate_synthetic,
    synthetic_sizes,
    write_synthetic,
)
from mtrec.config import ValidationConfig
from mtrec.data.sources import read_generic
from mtrec.data.validation import validate_interactions

N = 20_000


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    tables = generate_synthetic(N, seed=7)
    return tables.interactions.to_pandas(), tables.items.to_pandas(), tables.users.to_pandas()


def test_sizes_follow_the_documented_rule() -> None:
    assert synthetic_sizes(20_000) == (400, 1_000)
    assert synthetic_sizes(1_000_000) == (20_000, 10_000)
    assert synthetic_sizes(10_000_000) == (200_000, 50_000)


def test_same_seed_same_tables_other_seed_other_tables() -> None:
    first, again, other = (generate_synthetic(5_000, seed=s) for s in (1, 1, 2))
    assert first.interactions.equals(again.interactions)
    assert first.items.equals(again.items)
    assert first.users.equals(again.users)
    assert not first.interactions.equals(other.interactions)


def test_exact_counts_and_schema(frames: tuple[pd.DataFrame, ...]) -> None:
    interactions, items, users = frames
    n_users, n_items = synthetic_sizes(N)
    assert len(interactions) == N
    assert len(items) == n_items and len(users) == n_users
    assert list(interactions.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert interactions["rating"].dtype == np.float64
    assert interactions["timestamp"].dtype == np.int64
    assert list(items.columns) == ["item_id", "title", "year", "genres", "description"]
    assert list(users.columns) == ["user_id", "age", "gender", "occupation"]
    assert items["item_id"].is_unique and users["user_id"].is_unique
    assert set(interactions["user_id"]) == set(users["user_id"])
    assert set(interactions["item_id"]) <= set(items["item_id"])
    assert set(interactions["rating"].unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert interactions["timestamp"].between(*PERIOD).all()
    assert users["age"].between(7, 80).all() and set(users["gender"]) == {"M", "F"}


def test_item_texts_come_from_the_vocabulary(frames: tuple[pd.DataFrame, ...]) -> None:
    items = frames[1]
    genre_sets = items["genres"].str.split(GENRE_SEPARATOR)
    assert genre_sets.map(len).between(1, 3).all()
    assert all(set(g) <= set(GENRES) for g in genre_sets)
    assert (genre_sets.map(len) == genre_sets.map(lambda g: len(set(g)))).all()  # no repeats
    assert items["year"].str.fullmatch(r"\d{4}").all()
    assert (items["title"].str.len() > 0).all()
    primary = genre_sets.map(lambda g: g[0])
    assert (items["description"].str.split(" story about ").str[0].isin(GENRES)).all()
    assert primary.nunique() > 10


def test_every_user_has_the_minimum_and_no_pair_repeats(frames: tuple[pd.DataFrame, ...]) -> None:
    interactions = frames[0]
    per_user = interactions.groupby("user_id").size()
    assert per_user.min() == MIN_PER_USER
    assert per_user.max() <= synthetic_sizes(N)[1] // 3
    assert not interactions.duplicated(["user_id", "item_id"]).any()


def test_popularity_and_activity_are_heavy_tailed(frames: tuple[pd.DataFrame, ...]) -> None:
    interactions, items, users = frames
    item_counts = interactions["item_id"].value_counts().to_numpy()
    assert item_counts[: len(items) // 10].sum() / N > 0.35  # uniform would give 0.10
    user_counts = interactions["user_id"].value_counts().to_numpy()
    assert user_counts[: len(users) // 10].sum() / N > 0.35
    assert user_counts.max() > 5 * np.median(user_counts)


def test_rows_are_a_log_in_time_order(frames: tuple[pd.DataFrame, ...]) -> None:
    interactions = frames[0]
    assert interactions["timestamp"].is_monotonic_increasing
    per_user = interactions.groupby("user_id", sort=False)["timestamp"]
    assert per_user.apply(lambda t: t.is_monotonic_increasing).all()
    spans = per_user.max() - per_user.min()
    assert (spans > 0).mean() > 0.99  # users act over a period, not in one instant
    assert interactions["timestamp"].max() - interactions["timestamp"].min() > 3 * 365 * 86_400


def test_ratings_depend_on_who_meets_what(frames: tuple[pd.DataFrame, ...]) -> None:
    """User and item means explain a good part of the rating variance, and a user's favourite
    genre (their most frequent primary genre) is rated higher: the rating tasks are learnable."""
    interactions, items, _ = frames
    ratings = interactions["rating"]
    assert 3.2 < ratings.mean() < 4.0
    assert 0.45 < (ratings >= 4).mean() < 0.7
    user_mean = interactions.groupby("user_id")["rating"].transform("mean")
    assert np.corrcoef(user_mean, ratings)[0, 1] > 0.3
    primary = items.set_index("item_id")["genres"].str.split(GENRE_SEPARATOR).str[0]
    genre = interactions["item_id"].map(primary)
    favourite = genre.groupby(interactions["user_id"]).agg(lambda g: g.mode().iloc[0])
    in_favourite = genre.to_numpy() == interactions["user_id"].map(favourite).to_numpy()
    assert ratings[in_favourite].mean() > ratings[~in_favourite].mean() + 0.1


def test_passes_validation_and_loads_through_read_generic(tmp_path: Path) -> None:
    files = write_synthetic(tmp_path / "synthetic", 3_000, seed=3)
    raw = read_generic(files.interactions, files.items, files.users)
    assert len(raw.interactions) == 3_000 and len(raw.users) == synthetic_sizes(3_000)[0]
    assert pd.api.types.is_string_dtype(raw.interactions["user_id"])
    result = validate_interactions(raw.interactions, raw.items, ValidationConfig())
    assert result.success, [o.observed for o in result.failures()]
    assert result.n_rows == 3_000


def test_cache_reuses_matching_files_and_rewrites_others(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    files = cached_synthetic(folder, 2_000, seed=0)
    written = files.interactions.stat().st_mtime_ns
    assert cached_synthetic(folder, 2_000, seed=0).interactions.stat().st_mtime_ns == written
    rewritten = cached_synthetic(folder, 2_500, seed=0)
    assert len(pd.read_parquet(rewritten.interactions)) == 2_500


def test_impossible_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot give"):
        generate_synthetic(100, n_users=30)  # 30 users x 5 > 100
    with pytest.raises(ValueError, match="cannot give"):
        generate_synthetic(10_000, n_users=10, n_items=100)  # at most 33 each
