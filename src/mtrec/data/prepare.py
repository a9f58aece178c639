"""Canonical typed frames and the one place where ids become contiguous indices.

After validation, interactions are cast to their canonical dtypes:

===============  =========  =====================================================
column           dtype      meaning
===============  =========  =====================================================
``user_id``      string     original user id
``item_id``      string     original item id
``rating``       float64    explicit rating, when the log has one (any other
                            column is kept too: numeric ones as float64)
``timestamp``    int64      seconds since the epoch
``user_idx``     int64      contiguous user index, 0..n_users-1
``item_idx``     int64      contiguous item index, 0..n_items-1 (row of ``items``)
===============  =========  =====================================================

With an event column (``data.event_column``), each (user, item) pair's rows become one
interaction holding its furthest stage at its first timestamp, with a 0/1 ``event:<stage>``
column per declared stage (:func:`mtrec.data.behaviours.collapse_events`), here, before any
split.

``items`` keeps every catalogue row (items nobody interacted with are cold-start candidates)
with ``item_idx`` equal to its row position; ``users`` has one row per user that interacted,
``user_idx`` equal to its row position, profile columns joined where the data has them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mtrec.config import EventFunnel
from mtrec.data.behaviours import collapse_events


@dataclass(frozen=True)
class IndexedData:
    """Interactions with contiguous indices, and the item and user tables they index."""

    interactions: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame


def index_interactions(
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    users: pd.DataFrame,
    funnel: EventFunnel | None = None,
) -> IndexedData:
    """Cast validated raw frames to canonical dtypes and map ids to contiguous indices.
    ``funnel`` (``DataConfig.funnel``): collapse each (user, item) pair's event rows to one
    interaction first (:func:`mtrec.data.behaviours.collapse_events`)."""
    # Any column besides the ids and time (a rating, a dwell time) is a possible task label:
    # kept in its place, numeric ones as float64. An implicit log has none.
    columns: dict[str, pd.Series] = {
        "user_id": interactions["user_id"].astype("string"),
        "item_id": interactions["item_id"].astype("string"),
    }
    for column in interactions.columns.difference(["user_id", "item_id", "timestamp"], sort=False):
        values = interactions[column]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        columns[column] = values.astype("float64") if numeric else values
    columns["timestamp"] = interactions["timestamp"].astype("int64")
    inter = pd.DataFrame(columns)
    if funnel is not None:
        inter = collapse_events(inter, funnel)
    catalogue = items.drop_duplicates("item_id", keep="first").reset_index(drop=True)
    catalogue.insert(0, "item_idx", np.arange(len(catalogue), dtype=np.int64))
    item_index = pd.Series(catalogue["item_idx"].to_numpy(), index=catalogue["item_id"])

    user_ids = _natural_sorted(inter["user_id"].unique())
    profiles = users.drop_duplicates("user_id", keep="first").set_index("user_id")
    user_table = profiles.reindex(pd.Index(user_ids, dtype="string", name="user_id"))
    for name, dtype in profiles.dtypes.items():
        if pd.api.types.is_integer_dtype(dtype):  # users without a profile must not make 25 "25.0"
            user_table[name] = user_table[name].astype("Int64")
    user_table = user_table.reset_index()
    user_table.insert(0, "user_idx", np.arange(len(user_table), dtype=np.int64))
    user_index = pd.Series(user_table["user_idx"].to_numpy(), index=user_table["user_id"])

    inter["user_idx"] = user_index.reindex(inter["user_id"]).to_numpy()
    inter["item_idx"] = item_index.reindex(inter["item_id"]).to_numpy()
    if inter["item_idx"].isna().any():
        missing = inter.loc[inter["item_idx"].isna(), "item_id"].unique()[:5].tolist()
        raise ValueError(f"interactions reference items absent from the item table: {missing}")
    inter = inter.astype({"user_idx": "int64", "item_idx": "int64"})
    return IndexedData(interactions=inter.reset_index(drop=True), items=catalogue, users=user_table)


def _natural_sorted(ids: np.ndarray) -> list[str]:
    """Numeric ids sort as numbers (2 before 10), others as text: stable, readable indices."""
    values = [str(v) for v in ids]
    if all(v.isdigit() for v in values):
        return sorted(values, key=lambda v: (len(v.lstrip("0")), v.lstrip("0"), v))
    return sorted(values)


def index_edges(edges: pd.DataFrame, users: pd.DataFrame) -> pd.DataFrame:
    """``user_idx,friend_idx`` (int64) for an edge table over ``users``' ids: undirected, so
    each edge appears in both directions; self-loops, duplicates and edges to users without
    interactions are dropped (they have no index)."""
    index = pd.Series(users["user_idx"].to_numpy(), index=users["user_id"].astype("string"))
    a = index.reindex(edges["user_id"].astype("string")).to_numpy()
    b = index.reindex(edges["friend_id"].astype("string")).to_numpy()
    keep = ~(pd.isna(a) | pd.isna(b))
    a, b = a[keep].astype(np.int64), b[keep].astype(np.int64)
    both = np.concatenate([np.stack([a, b], 1), np.stack([b, a], 1)])
    both = np.unique(both[both[:, 0] != both[:, 1]], axis=0)  # sorted by user, then friend
    return pd.DataFrame({"user_idx": both[:, 0], "friend_idx": both[:, 1]})


def history_columns(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(users, items, times) of canonical interactions, what a model's history input is set
    from (``MultiTaskRecommender.set_history``); a frame without timestamps keeps row order."""
    times = frame["timestamp"].to_numpy() if "timestamp" in frame else np.arange(len(frame))
    return frame["user_idx"].to_numpy(np.int64), frame["item_idx"].to_numpy(np.int64), times
