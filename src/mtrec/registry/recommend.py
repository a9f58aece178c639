"""Batch recommendations from a trained model: top-K unseen items per user.

Known users are ranked by the model's ranking-task score with the items they interacted with
removed; users the model has never seen are scored from their profile text when one is given
(``source`` ``profile``), else get the most popular items (``popularity``); the output's
``source`` column says which users got which. Model- and profile-scored lists go through
:func:`mtrec.evaluation.diversity.final_lists`, the re-ranking evaluation measured; with
``explain`` each row says which of the user's recent topics the item belongs to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mtrec.config import InterestsConfig, RerankConfig
from mtrec.evaluation.diversity import final_lists
from mtrec.evaluation.interests import InterestShares, Topics, explain, fit_topics, interest_shares
from mtrec.models.serialization import TrainedModel


def recommend(
    trained: TrainedModel,
    history: pd.DataFrame,
    k: int,
    user_ids: Sequence[str] | None = None,
    batch_size: int = 256,
    profiles: Mapping[str, np.ndarray] | None = None,
    rerank: RerankConfig | None = None,
    topics: Topics | None = None,
    explain_items: bool = False,
    interests: InterestsConfig | None = None,
) -> pd.DataFrame:
    """``user_id,item_id,rank,score,source`` rows: ``source`` is ``model``, ``profile`` or
    ``popularity``; ``score`` is the model's score of the item (popularity: its count).

    history: ``user_id,item_id`` interactions to exclude (and to count popularity from).
    user_ids: whom to recommend for; ``None`` means every user the model knows.
    profiles: text embeddings (same encoder as training) of unknown users' profile texts.
    rerank: how model and profile lists are re-ranked (default: top-K by score); ``mmr`` and
    ``dpp`` read the model's item text embeddings, ``calibrated`` targets each user's topic
    shares over their known history and needs ``topics``.
    explain_items: add a ``reason`` column (:func:`mtrec.evaluation.interests.explain`) from
    each user's recent topic shares (``interests.recent_n`` / ``recent_days``); needs ``topics``.
    """
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    rerank = rerank or RerankConfig(method="none", lam=0.0)
    interests = interests or InterestsConfig()
    if (explain_items or rerank.method == "calibrated") and topics is None:
        raise ValueError("explanations and calibrated re-ranking need the item topics")
    if topics is not None and topics.n_items != len(trained.item_ids):
        raise ValueError(f"topics cover {topics.n_items} items, the model {len(trained.item_ids)}")
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
    position = {user: r for r, user in enumerate(wanted)}
    shares = None
    if topics is not None:
        shares = _wanted_shares(history, seen, position, topics, interests)
    vectors = item_text_embeddings(trained) if rerank.method in ("mmr", "dpp") else None

    def final(batch_ids: Sequence[str], scores: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        targets = None if shares is None else shares.long_term[[position[u] for u in batch_ids]]
        lists = final_lists(scores, k, rerank, vectors, topics, targets)  # (B, k)
        return lists.numpy(), scores.gather(1, lists).numpy()

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
        frames.append(_rows(batch_ids, *final(batch_ids, scores), "model", trained))
    profiles = profiles or {}
    described = [u for u in unknown if u in profiles]
    unknown = [u for u in unknown if u not in profiles]
    for start in range(0, len(described), batch_size):
        batch_ids = described[start : start + batch_size]
        text = torch.from_numpy(np.stack([np.asarray(profiles[u], np.float32) for u in batch_ids]))
        with torch.no_grad():
            scores = model.score_text_users(text).float()
        frames.append(_rows(batch_ids, *final(batch_ids, scores), "profile", trained))
    if unknown:
        order = np.argsort(-popularity, kind="stable")[:k]
        indices = np.tile(order, (len(unknown), 1))
        values = np.tile(popularity[order], (len(unknown), 1))
        frames.append(_rows(unknown, indices, values, "popularity", trained))
    columns = ["user_id", "item_id", "rank", "score", "source"]
    if not frames:
        return pd.DataFrame(columns=[*columns, *(["reason"] if explain_items else [])])
    frame = pd.concat(frames, ignore_index=True)
    if explain_items:
        assert topics is not None and shares is not None
        # Every user holds k consecutive rows: one (users, k) block of item indices.
        listed = frame["user_id"].to_numpy()[::k]
        items = frame["item_id"].map(item_index).to_numpy(np.int64).reshape(-1, k)
        recent = shares.recent[[position[u] for u in listed]]
        frame["reason"] = [r for line in explain(items, recent, topics) for r in line]
    return frame


def item_text_embeddings(trained: TrainedModel) -> np.ndarray:
    """The (I, D) item text embeddings the model was built with (its ``item_text`` buffer,
    saved with the weights), rows in ``trained.item_ids`` order."""
    if "item_text" not in trained.state_dict:
        raise ValueError("the model's weights hold no item text embeddings (item_text)")
    return trained.state_dict["item_text"].float().numpy()


def served_topics(
    trained: TrainedModel, items: pd.DataFrame | None, config: InterestsConfig
) -> Topics:
    """Topics of the model's catalogue, clustered from its item text embeddings; labels come
    from ``items`` (``item_id`` with ``title`` / ``genres``), matched to the model's items by
    id. Without ``items`` the topics are numbered, not named."""
    catalogue = pd.DataFrame({"item_id": list(trained.item_ids)})
    if items is not None:
        text = items.drop(columns=["item_idx"], errors="ignore").astype({"item_id": str})
        catalogue = catalogue.merge(text.drop_duplicates("item_id"), on="item_id", how="left")
    n_topics = min(config.topics, len(trained.item_ids))
    return fit_topics(item_text_embeddings(trained), catalogue, k=n_topics, seed=config.seed)


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


def _wanted_shares(
    history: pd.DataFrame,
    seen: pd.DataFrame,
    position: Mapping[str, int],
    topics: Topics,
    config: InterestsConfig,
) -> InterestShares:
    """Topic shares of the wanted users (row ``position[user_id]``) over their history rows
    with a catalogue item; without a ``timestamp`` column rows count in order."""
    users = seen["user_id"].map(position)
    known = users.notna().to_numpy()
    times = history["timestamp"].to_numpy() if "timestamp" in history else np.arange(len(history))
    frame = pd.DataFrame(
        {
            "user_idx": users[known].to_numpy(np.int64),
            "item_idx": seen["item"][known].to_numpy(np.int64),
            "timestamp": times[seen.index.to_numpy()[known]],
        }
    )
    n_users = max(position.values(), default=-1) + 1
    return interest_shares(frame, topics, config.recent_n, config.recent_days, n_users=n_users)


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
