"""index_interactions: canonical dtypes and contiguous indices, the catalogue kept whole."""

import numpy as np
import pandas as pd
import pytest

from mtrec.data.prepare import index_interactions


def _raw() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    interactions = pd.DataFrame(
        {
            "user_id": pd.array(["10", "2", "10", "1", "2"], dtype="string"),
            "item_id": pd.array(["b", "c", "c", "b", "a"], dtype="string"),
            "rating": np.array([5, 3, 4, 1, 2], dtype="int64"),
            "timestamp": np.array([50.0, 40.0, 30.0, 20.0, 10.0]),
        }
    )
    # "d" and "e" are never interacted with; "b" appears twice (the first row wins).
    items = pd.DataFrame(
        {
            "item_id": pd.array(["a", "b", "c", "d", "b", "e"], dtype="string"),
            "title": ["A", "B", "C", "D", "B-dup", "E"],
        }
    )
    users = pd.DataFrame(
        {
            "user_id": pd.array(["2", "10", "99"], dtype="string"),
            "age": [30, 40, 50],
            "gender": ["F", "M", "F"],
        }
    )
    return interactions, items, users


def test_items_keep_every_catalogue_row_in_order() -> None:
    data = index_interactions(*_raw())
    assert data.items["item_id"].tolist() == ["a", "b", "c", "d", "e"]
    assert data.items["title"].tolist() == ["A", "B", "C", "D", "E"]
    assert data.items["item_idx"].tolist() == list(range(5))
    assert data.items.columns[0] == "item_idx"


def test_users_sorted_numerically_with_profiles_joined() -> None:
    data = index_interactions(*_raw())
    # Only users that interacted; "2" sorts before "10" although "10" < "2" as text.
    assert data.users["user_id"].tolist() == ["1", "2", "10"]
    assert data.users["user_idx"].tolist() == [0, 1, 2]
    assert data.users["age"].iloc[1:].tolist() == [30, 40]
    assert data.users["gender"].iloc[1:].tolist() == ["F", "M"]
    assert data.users[["age", "gender"]].iloc[0].isna().all()  # no profile row for "1"


def test_non_numeric_user_ids_sort_as_text() -> None:
    interactions, items, users = _raw()
    interactions["user_id"] = pd.array(["b", "a10", "b", "a2", "a10"], dtype="string")
    data = index_interactions(interactions, items, users)
    assert data.users["user_id"].tolist() == ["a10", "a2", "b"]


def test_interaction_indices_are_contiguous_and_consistent() -> None:
    data = index_interactions(*_raw())
    inter = data.interactions
    assert len(inter) == 5
    assert inter["user_id"].tolist() == ["10", "2", "10", "1", "2"]  # row order preserved
    assert inter["user_idx"].tolist() == [2, 1, 2, 0, 1]
    assert inter["item_idx"].tolist() == [1, 2, 2, 1, 0]
    assert sorted(inter["user_idx"].unique()) == list(range(len(data.users)))
    # Every index points back at the row with the same id.
    assert (data.users["user_id"].to_numpy()[inter["user_idx"]] == inter["user_id"]).all()
    assert (data.items["item_id"].to_numpy()[inter["item_idx"]] == inter["item_id"]).all()


def test_canonical_dtypes() -> None:
    data = index_interactions(*_raw())
    inter = data.interactions
    assert list(inter.columns) == [
        "user_id",
        "item_id",
        "rating",
        "timestamp",
        "user_idx",
        "item_idx",
    ]
    assert pd.api.types.is_string_dtype(inter["user_id"])
    assert pd.api.types.is_string_dtype(inter["item_id"])
    assert inter["rating"].dtype == np.float64
    assert inter["timestamp"].dtype == np.int64
    assert inter["user_idx"].dtype == np.int64
    assert inter["item_idx"].dtype == np.int64
    assert data.items["item_idx"].dtype == np.int64
    assert data.users["user_idx"].dtype == np.int64
    assert inter["rating"].tolist() == [5.0, 3.0, 4.0, 1.0, 2.0]
    assert inter["timestamp"].tolist() == [50, 40, 30, 20, 10]


def test_inputs_are_not_mutated() -> None:
    interactions, items, users = _raw()
    copies = interactions.copy(), items.copy(), users.copy()
    index_interactions(interactions, items, users)
    for before, after in zip(copies, (interactions, items, users), strict=True):
        pd.testing.assert_frame_equal(before, after)


def test_empty_user_table() -> None:
    interactions, items, _ = _raw()
    users = pd.DataFrame({"user_id": pd.array([], dtype="string")})
    data = index_interactions(interactions, items, users)
    assert list(data.users.columns) == ["user_idx", "user_id"]
    assert data.users["user_id"].tolist() == ["1", "2", "10"]


def test_unknown_item_raises() -> None:
    interactions, items, users = _raw()
    interactions.loc[2, "item_id"] = "zzz"
    with pytest.raises(ValueError, match="zzz"):
        index_interactions(interactions, items, users)
