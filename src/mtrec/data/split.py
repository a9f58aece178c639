"""Train / valid / test splits of canonical interactions.

``ratio`` reproduces RecBole's ``RS`` split with ``group_by: user``: per user, rows in timestamp
order (``order: time``, RecBole's ``TO``; stable on ties, so equal timestamps keep file order)
or in a random order drawn with the split seed (``order: random``, RecBole's ``RO``: every row
shuffled, then grouped by user), valid and test each get ``floor(ratio * n)`` rows, a part
whose exact share lies strictly between 0 and 1 gets one row taken from train (while train
keeps more than one), and train gets the rest.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from mtrec.config import SplitConfig


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame


def split_interactions(interactions: pd.DataFrame, config: SplitConfig) -> Split:
    """Split canonical interactions with the configured strategy."""
    if config.strategy == "ratio":
        parts = ratio_split_parts(interactions, config.ratios, config.order, config.seed)
    elif config.strategy == "cold_items":
        parts = cold_item_split_parts(
            interactions, config.ratios, config.cold_item_share, config.seed, config.order
        )
    elif config.strategy == "time":
        assert config.valid_start is not None and config.test_start is not None
        parts = time_split_parts(interactions, config.valid_start, config.test_start)
    else:
        assert config.train_file and config.valid_file and config.test_file
        parts = predefined_split_parts(
            interactions, config.train_file, config.valid_file, config.test_file
        )
    return Split(
        train=interactions[parts == 0].reset_index(drop=True),
        valid=interactions[parts == 1].reset_index(drop=True),
        test=interactions[parts == 2].reset_index(drop=True),
    )


class SplitTooSmallError(ValueError):
    """A split part (train, valid or test) has no interactions: nothing to train, tune or
    measure on."""


def require_every_part(split: Split) -> None:
    """Raise :class:`SplitTooSmallError` unless train, valid and test each hold at least one
    interaction (and so one user); the message names every empty part and all the counts."""
    parts = {"train": split.train, "valid": split.valid, "test": split.test}
    sizes = {name: (len(frame), _n_users(frame)) for name, frame in parts.items()}
    empty = [name for name, (rows, users) in sizes.items() if rows == 0 or users == 0]
    if empty:
        counts = ", ".join(
            f"{name} {rows:,} interactions of {users:,} users"
            for name, (rows, users) in sizes.items()
        )
        raise SplitTooSmallError(
            f"the {' and '.join(empty)} split{'s are' if len(empty) > 1 else ' is'} empty "
            f"({counts}): each of train, valid and test needs at least one user; check "
            "split.ratios, split.valid_start / test_start, or the amount of data"
        )


def _n_users(frame: pd.DataFrame) -> int:
    return int(frame["user_id"].nunique()) if "user_id" in frame.columns else 0


def recbole_part_sizes(total: np.ndarray, ratios: tuple[float, ...]) -> np.ndarray:
    """Rows per part for groups of ``total`` rows, as RecBole's ``_calcu_split_ids`` counts.

    Returns an array of shape (n_groups, n_parts). The float products are computed exactly as
    RecBole does (``int(ratio * tot)``) so borderline counts agree with it.
    """
    total = np.asarray(total, dtype=np.int64)
    shares = np.asarray(ratios, dtype=np.float64) / float(sum(ratios))
    exact = shares[None, :] * total[:, None]  # (G, P)
    counts = exact.astype(np.int64)
    counts[:, 0] = total - counts[:, 1:].sum(axis=1)
    for part in range(len(ratios) - 1, 0, -1):  # last part first, as RecBole walks them
        room = counts[:, 0] > 1
        tiny = (exact[:, part] > 0) & (exact[:, part] < 1)
        # RecBole stops adjusting a group once train is down to one row.
        take = room & tiny
        counts[take, part] += 1
        counts[take, 0] -= 1
    return counts


def ratio_split_parts(
    interactions: pd.DataFrame,
    ratios: tuple[float, ...],
    order: Literal["time", "random"] = "time",
    seed: int = 0,
) -> np.ndarray:
    """Part label (0 train, 1 valid, 2 test) per row, for the per-user ratio split.

    ``order``: each user's rows by timestamp (``time``) or in the order of a permutation of
    all rows drawn with ``seed`` (``random``); ``seed`` is unused for ``time``.
    """
    users = interactions["user_idx"].to_numpy()
    if order == "time":
        within = interactions["timestamp"].to_numpy()
    else:
        # RecBole RO shuffles the whole table, then groups it by user keeping that order.
        within = np.empty(len(users), dtype=np.int64)
        within[np.random.default_rng(seed).permutation(len(users))] = np.arange(len(users))
    sorted_rows = np.lexsort((np.arange(len(users)), within, users))  # ties keep file order
    sorted_users = users[sorted_rows]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    sizes = np.diff(np.r_[starts, len(users)])
    position = np.arange(len(users)) - np.repeat(starts, sizes)  # rank within user
    counts = recbole_part_sizes(sizes, ratios)
    bounds = np.cumsum(counts, axis=1)  # (G, P)
    per_row_bounds = np.repeat(bounds, sizes, axis=0)
    sorted_parts = (position[:, None] >= per_row_bounds[:, :-1]).sum(axis=1)
    parts = np.empty(len(users), dtype=np.int64)
    parts[sorted_rows] = sorted_parts
    return parts


def cold_item_split_parts(
    interactions: pd.DataFrame,
    ratios: tuple[float, ...],
    share: float,
    seed: int,
    order: Literal["time", "random"] = "time",
) -> np.ndarray:
    """Items drawn with ``seed`` (``share`` of the interacted ones) are test-only; the rest of
    the interactions get the per-user ratio split in ``order`` (``random`` drawn with ``seed``
    too). Measures cold start on many items at once."""
    items = np.unique(interactions["item_idx"].to_numpy())
    n_cold = max(1, round(share * len(items)))
    cold = np.random.default_rng(seed).choice(items, size=n_cold, replace=False)
    is_cold = np.isin(interactions["item_idx"].to_numpy(), cold)
    parts = np.full(len(interactions), 2, dtype=np.int64)
    warm = interactions[~is_cold]
    parts[~is_cold] = ratio_split_parts(warm, ratios, order, seed)
    return parts


def time_split_parts(interactions: pd.DataFrame, valid_start: int, test_start: int) -> np.ndarray:
    """Global cut-offs: before ``valid_start`` train, before ``test_start`` valid, else test."""
    times = interactions["timestamp"].to_numpy()
    return np.where(times < valid_start, 0, np.where(times < test_start, 1, 2)).astype(np.int64)


def predefined_split_parts(
    interactions: pd.DataFrame, train_file: Path, valid_file: Path, test_file: Path
) -> np.ndarray:
    """Parts read from files (CSV or Parquet with ``user_id,item_id`` and, ideally,
    ``timestamp``), so a published benchmark split is reproduced exactly.

    Every file row must match an interaction; interactions in no file get part -1 and are left
    out of all three parts.
    """
    labelled = []
    for part, path in enumerate((train_file, valid_file, test_file)):
        if not path.is_file():
            raise FileNotFoundError(f"split file not found: {path}")
        # "007" must stay "007" to match the data.
        ids: Mapping[Hashable, type[str]] = {"user_id": str, "item_id": str}
        is_parquet = path.suffix in (".parquet", ".pq")
        frame = pd.read_parquet(path) if is_parquet else pd.read_csv(path, dtype=ids)
        missing = {"user_id", "item_id"} - set(frame.columns)
        if missing:
            raise ValueError(f"split file {path} lacks columns {sorted(missing)}")
        frame = frame.assign(_part=part)
        labelled.append(frame)
    parts_frame = pd.concat(labelled, ignore_index=True)
    keys = ["user_id", "item_id"] + (["timestamp"] if "timestamp" in parts_frame else [])
    parts_frame = parts_frame[[*keys, "_part"]].astype({"user_id": str, "item_id": str})
    left = interactions[keys].astype({"user_id": str, "item_id": str}).reset_index()
    merged = left.merge(parts_frame, on=keys, how="left", validate="many_to_one")
    matched = parts_frame.merge(left[keys].drop_duplicates(), on=keys, how="left", indicator=True)
    unmatched = matched[matched["_merge"] == "left_only"]
    if len(unmatched):
        sample = unmatched[keys].head(3).to_dict("records")
        raise ValueError(f"{len(unmatched)} split-file rows match no interaction, e.g. {sample}")
    parts = merged.sort_values("index")["_part"].fillna(-1).astype(np.int64)
    return parts.to_numpy()
