"""Batch recommendations from a trained model: top-K unseen items per user.

Known users are ranked by the model's ranking-task score with the items they interacted with
removed; users the model has never seen are scored from their profile text when one is given
(``source`` ``profile``), else get the most popular items (``popularity``); the output's
``source`` column says which users got which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mtrec.models.serialization import TrainedModel


def recommend(
    trained: TrainedModel,
    history: pd.DataFrame,
    k: int,
    user_ids: Sequence[str] | None = None,
    batch_size: int = 256,
    profiles: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """``user_id,item_id,rank,score,source`` rows: ``source`` is ``model`` or ``popularity``.

    history: ``user_id,item_id`` interactions to exclude (and to count popularity from).
    user_ids: whom to recommend for; ``None`` means every user the model knows.
    profiles: text embeddings (same encoder as training) of unknown users' profile texts.
    """
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    item_index = {item: i for i, item in enumerate(trained.item_ids)}
    user_index = {user: u for u, user in enumerate(trained.user_ids)}
    n_items = len(trained.item_ids)
    k = min(k, n_items)
    wanted = list(trained.user_ids) if user_ids is None else [str(u) for u in user_ids]
    known = [u for u in wanted if u in user_index]
    unknown = [u for u in wanted if u not in user_index]

    history = history.reset_index(drop=True)  # row labels are positions below
    seen_items = history["item_id"].astype(str).map(item_index)
    seen = pd.DataFrame({"user_id": history["user_id"].astype(str), "item": seen_items}).dropna()
    popularity = np.bincount(seen["item"].astype(np.int64), minlength=n_items).astype(np.float32)

    frames = []
    model = trained.build()
    if model.reads_history:
        # The history input reads every known interaction, the newest included: what a user
        # did since the model was trained changes their list, with no retraining.
        model.set_history(*_known_history(history, seen, user_index))
    score_items = model.catalogue_scorer()
    for start in range(0, len(known), batch_size):
        batch_ids = known[start : start + batch_size]
        users = torch.tensor([user_index[u] for u in batch_ids])
        with torch.no_grad():
            scores = score_items(users).float()  # (B, I)
        mine = seen[seen["user_id"].isin(batch_ids)]
        rows = mine["user_id"].map({u: r for r, u in enumerate(batch_ids)}).to_numpy(np.int64)
        scores[rows, mine["item"].to_numpy(np.int64)] = -torch.inf
        top = torch.topk(scores, k, dim=1)
        frames.append(_rows(batch_ids, top.indices.numpy(), top.values.numpy(), "model", trained))
    profiles = profiles or {}
    described = [u for u in unknown if u in profiles]
    unknown = [u for u in unknown if u not in profiles]
    for start in range(0, len(described), batch_size):
        batch_ids = described[start : start + batch_size]
        text = torch.from_numpy(np.stack([np.asarray(profiles[u], np.float32) for u in batch_ids]))
        with torch.no_grad():
            scores = model.score_text_users(text).float()
        top = torch.topk(scores, k, dim=1)
        frames.append(_rows(batch_ids, top.indices.numpy(), top.values.numpy(), "profile", trained))
    if unknown:
        order = np.argsort(-popularity, kind="stable")[:k]
        indices = np.tile(order, (len(unknown), 1))
        values = np.tile(popularity[order], (len(unknown), 1))
        frames.append(_rows(unknown, indices, values, "popularity", trained))
    if not frames:
        return pd.DataFrame(columns=["user_id", "item_id", "rank", "score", "source"])
    return pd.concat(frames, ignore_index=True)


def read_events(path: Path, history: pd.DataFrame) -> pd.DataFrame:
    """New interactions from CSV or Parquet (``user_id,item_id`` and optionally
    ``timestamp``), as history rows; without timestamps they count as newer than everything
    known, in file order."""
    if not path.is_file():
        raise FileNotFoundError(f"events file not found: {path}")
    is_parquet = path.suffix in (".parquet", ".pq")
    frame = pd.read_parquet(path) if is_parquet else pd.read_csv(path, dtype=str)
    missing = {"user_id", "item_id"} - set(frame.columns)
    if missing:
        raise ValueError(f"events file {path} lacks columns {sorted(missing)}")
    events = frame[["user_id", "item_id"]].astype(str)
    if "timestamp" in frame:
        times = pd.to_numeric(frame["timestamp"], errors="coerce")
        if times.isna().any():
            raise ValueError(f"events file {path}: timestamp must be numeric seconds")
        events["timestamp"] = times.astype(np.int64).to_numpy()
    else:
        newest = int(history["timestamp"].max()) if len(history) else 0
        events["timestamp"] = newest + 1 + np.arange(len(events))
    return events


def _known_history(
    history: pd.DataFrame, seen: pd.DataFrame, user_index: Mapping[str, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(users, items, times) in the model's indices of the history rows it knows both ids of;
    without a ``timestamp`` column the rows are taken in order."""
    users = seen["user_id"].map(user_index)
    known = users.notna()
    times = history["timestamp"].to_numpy() if "timestamp" in history else np.arange(len(history))
    rows = seen.index.to_numpy()[known.to_numpy()]  # positions in ``history``
    return users[known].to_numpy(np.int64), seen["item"][known].to_numpy(np.int64), times[rows]


def _rows(
    user_ids: Sequence[str], indices: np.ndarray, scores: np.ndarray, source: str,
    trained: TrainedModel,
) -> pd.DataFrame:  # fmt: skip
    n, k = indices.shape
    items = np.asarray(trained.item_ids, dtype=object)
    return pd.DataFrame(
        {
            "user_id": np.repeat(np.asarray(user_ids, dtype=object), k),
            "item_id": items[indices.reshape(-1)],
            "rank": np.tile(np.arange(1, k + 1), n),
            "score": scores.reshape(-1).astype(np.float64),
            "source": source,
        }
    )
