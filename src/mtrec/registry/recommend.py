"""Recommendations from a trained model: top-K unseen items per user, for a batch or a request.

:class:`Recommender` holds a trained model prepared once (its network built, the known history
read, the catalogue's item side computed) and answers :class:`Query` lists with
:meth:`Recommender.rank`; :func:`recommend` (``make recommend``) and the online service
(:mod:`mtrec.serving`) both call it, so a batch list and a served one are the same list.
Known users are ranked by the model's ranking-task score, reading their known history and any
newer interactions a query brings, with what they interacted with removed; users the model has
never seen are scored from their profile text when one is given (``source`` ``profile``), else
get the most popular items (``popularity``). Model- and profile-scored lists go through
:func:`mtrec.evaluation.diversity.final_lists`, the re-ranking evaluation measured; with
``explain`` each row says which of the user's recent topics the item belongs to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from mtrec.config import EncoderConfig, InterestsConfig, RerankConfig
from mtrec.evaluation.diversity import final_lists
from mtrec.evaluation.interests import InterestShares, Topics, explain, fit_topics, interest_shares
from mtrec.models.layers import DotTower, PairTower
from mtrec.models.serialization import TrainedModel

Source = Literal["model", "profile", "popularity"]
NO_RERANK = RerankConfig(method="none", lam=0.0)


@dataclass(frozen=True, eq=False)
class Query:
    """Whom to recommend for, and what the model should know beyond the prepared history.

    ``recent``: catalogue indices of interactions newer than the prepared history, oldest
    first; the history-aware user side reads them as the newest, and with ``exclude_seen``
    they are not recommended. ``profile``: the text embedding (the run's encoder) of an
    unknown user's profile; ignored for a user the model knows."""

    user_id: str
    recent: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    profile: np.ndarray | None = None
    exclude_seen: bool = True


@dataclass(frozen=True, eq=False)
class RankedList:
    """One user's list: ``items`` (k,) catalogue indices, best first, their ``scores`` (k,)
    (the model's score; popularity: the item's count), and which ``source`` ranked them.
    An item the user has seen is placed last with score ``-inf`` only when the catalogue has
    fewer than ``k`` unseen items."""

    user_id: str
    source: Source
    items: np.ndarray
    scores: np.ndarray


class Recommender:
    """A trained model ready to rank: built once, then read-only, so threads may share it.

    ``history``: ``user_id,item_id[,timestamp]`` interactions the model knows (what it reads
    as each user's history, what is excluded, what popularity counts); rows with items outside
    the catalogue are ignored. ``topics``: the item topics, needed by ``calibrated``
    re-ranking (each user's target is their topic shares over the history and the query's
    newer interactions)."""

    def __init__(
        self, trained: TrainedModel, history: pd.DataFrame, topics: Topics | None = None
    ) -> None:
        if topics is not None and topics.n_items != len(trained.item_ids):
            raise ValueError(
                f"topics cover {topics.n_items} items, the model {len(trained.item_ids)}"
            )
        # Only the ids are kept from ``trained``: its weights live on in the built network.
        self.item_ids, self.user_ids = trained.item_ids, trained.user_ids
        self.topics = topics
        self.item_index = {item: i for i, item in enumerate(trained.item_ids)}
        self.user_index = {user: u for u, user in enumerate(trained.user_ids)}
        self.n_items = len(trained.item_ids)
        history = history.reset_index(drop=True)
        items = history["item_id"].astype(str).map(self.item_index)
        keep = items.notna().to_numpy()
        user_col = history["user_id"].astype(str).to_numpy()[keep]
        item_col = items.to_numpy()[keep].astype(np.int64)
        times = history["timestamp"].to_numpy() if "timestamp" in history else None
        times = np.arange(len(history)) if times is None else times
        times = times[keep]
        self._popularity = np.bincount(item_col, minlength=self.n_items).astype(np.float32)
        self._popular_order = np.argsort(-self._popularity, kind="stable")
        # Every user's rows, known to the model or not, oldest first: what a list excludes
        # and what a calibrated list aims at.
        codes, uniques = pd.factorize(user_col)
        order = np.lexsort((np.arange(len(codes)), times, codes))
        self._seen_row = {str(user): r for r, user in enumerate(uniques)}
        counts = np.bincount(codes, minlength=len(uniques))
        self._seen_indptr = np.r_[0, np.cumsum(counts)]
        self._seen_items = item_col[order]
        model = trained.build()
        if model.reads_history:
            # The history input reads every known interaction, the newest included: what a
            # user did since the model was trained changes their list, with no retraining.
            users = pd.Series(user_col).map(self.user_index)
            known = users.notna().to_numpy()
            model.set_history(users[known].to_numpy(np.int64), item_col[known], times[known])
        self._model = model
        self._task = model.spec.ranking_task
        with torch.inference_mode():
            # The catalogue's item side once: every list is then one (B, H) x (H, I) product.
            catalogue = model.task_items(torch.arange(self.n_items))[self._task]  # (I, H)
            self._score_catalogue = catalogue_scorer(model.tower(self._task), catalogue)
        self._vectors = model.get_buffer("item_text")  # (I, D): what mmr and dpp compare

    def knows(self, user_id: str) -> bool:
        """Whether the model has a trained user side for ``user_id``."""
        return user_id in self.user_index

    def history_of(self, user_id: str) -> np.ndarray:
        """The catalogue indices of ``user_id``'s known interactions, oldest first."""
        row = self._seen_row.get(user_id)
        if row is None:
            return np.zeros(0, dtype=np.int64)
        return self._seen_items[self._seen_indptr[row] : self._seen_indptr[row + 1]]

    def rank(
        self, queries: Sequence[Query], k: int, rerank: RerankConfig | None = None
    ) -> list[RankedList]:
        """Each query's list of ``min(k, catalogue)`` items, in query order: known users by
        the model, unknown users with a profile by their text, the rest by popularity; model
        and profile lists re-ranked by ``rerank`` (default: top-K by score)."""
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        rerank = rerank or NO_RERANK
        if rerank.method == "calibrated" and self.topics is None:
            raise ValueError("calibrated re-ranking needs the item topics")
        k = min(k, self.n_items)
        lists: list[RankedList | None] = [None] * len(queries)
        rows = [r for r, q in enumerate(queries) if self.knows(q.user_id) or q.profile is not None]
        if rows:
            scored = [queries[r] for r in rows]
            with torch.inference_mode():
                scores = self._scores(scored)  # (B, I)
                for row, query in enumerate(scored):
                    if query.exclude_seen:
                        scores[row, torch.from_numpy(self._excluded(query))] = -torch.inf
                targets = self._targets(scored) if rerank.method == "calibrated" else None
                items, values = self._final(scores, k, rerank, targets)
            for row, (r, query) in enumerate(zip(rows, scored, strict=True)):
                source: Source = "model" if self.knows(query.user_id) else "profile"
                lists[r] = RankedList(query.user_id, source, items[row], values[row])
        return [
            ranked if ranked is not None else self._popular(query, k)
            for ranked, query in zip(lists, queries, strict=True)
        ]

    def _scores(self, queries: Sequence[Query]) -> Tensor:
        """Every catalogue item's ranking score for each query: (B, I)."""
        known = [r for r, q in enumerate(queries) if self.knows(q.user_id)]
        described = [r for r, q in enumerate(queries) if not self.knows(q.user_id)]
        parts, order = [], known + described
        if known:
            users = torch.tensor([self.user_index[queries[r].user_id] for r in known])
            parts.append(self._user_vectors(users, [queries[r].recent for r in known]))
        if described:
            text = np.stack([np.asarray(queries[r].profile, np.float32) for r in described])
            parts.append(self._text_vectors(torch.from_numpy(text)))
        scores = self._score_catalogue(torch.cat(parts)).float()  # (B, I), rows in ``order``
        if known and self._model.spec.item_item_weight > 0:
            # Known users' item-item side reads their known and newer interactions too.
            scores[: len(known)] = self._model.blend_item_item(
                users, scores[: len(known)], [queries[r].recent for r in known]
            )
        if order != list(range(len(queries))):
            scores = scores[torch.argsort(torch.tensor(order))]
        return scores

    def _user_vectors(self, users: Tensor, recent: Sequence[np.ndarray]) -> Tensor:
        """Ranking-task user vectors (B, H) of known users, each reading its known history
        followed by its query's newer interactions: what ``task_users`` gives once those
        interactions are in the model's history (tested), without touching the shared model."""
        model, spec = self._model, self._model.spec
        if not model.reads_history or not any(len(r) for r in recent):
            return model.task_users(users)[self._task]
        parts = [model.user_inputs(users, model.user_text, model.user_seen)]  # (B, 2E)
        indptr, known = model.history_indptr, model.history_items
        sequences = [  # oldest first
            torch.cat([known[indptr[u] : indptr[u + 1]], torch.as_tensor(r, dtype=torch.long)])
            for u, r in zip(users.tolist(), recent, strict=True)
        ]
        if model.history is not None:
            window = torch.zeros(len(users), spec.history_length, dtype=torch.long)  # (B, L)
            present = torch.zeros(window.shape, dtype=torch.bool)
            for row, sequence in enumerate(sequences):
                newest = sequence.flip(0)[: spec.history_length]  # newest first
                window[row, : len(newest)] = newest
                present[row, : len(newest)] = True
            distinct, inverse = torch.unique(window, return_inverse=True)
            inputs = model.item_inputs(distinct, model.item_text, model.item_seen)  # (D, 2E)
            parts.append(model.history(inputs, inverse.view(window.shape), present))  # (B, 2E)
        if spec.profile_length:
            width = model.item_inputs.out_dim
            means = [
                model.item_inputs(newest, model.item_text, model.item_seen).mean(0)
                if len(newest := sequence[-spec.profile_length :])
                else torch.zeros(width)
                for sequence in sequences
            ]
            parts.append(torch.stack(means))  # (B, 2E)
        if spec.n_friend_links:
            parts.append(model.friend_mean(users))  # (B, 2E)
        return model.user_net(torch.cat(parts, dim=-1))[self._task]

    def _text_vectors(self, text: Tensor) -> Tensor:
        """Ranking-task user vectors (B, H) of unknown users from their profile text
        embeddings (B, Du), as ``score_text_users`` builds them: no id, no history."""
        model = self._model
        x = model.user_inputs.from_text(text.float())  # (B, 2E)
        n_history = int(model.history is not None) + int(model.spec.profile_length > 0)
        x = torch.cat([x] + [torch.zeros_like(x)] * n_history, dim=-1)
        if model.spec.n_friend_links:
            x = torch.cat([x, torch.zeros_like(x[:, : model.user_inputs.out_dim])], dim=-1)
        return model.user_net(x)[self._task]

    def _excluded(self, query: Query) -> np.ndarray:
        """What ``query``'s user has interacted with: known history and newer interactions."""
        return np.concatenate([self.history_of(query.user_id), np.asarray(query.recent, np.int64)])

    def _targets(self, queries: Sequence[Query]) -> np.ndarray:
        """Each query's topic shares (B, T) over its user's known and newer interactions;
        zero rows for users with none."""
        assert self.topics is not None
        n_topics = self.topics.n_topics
        counts = np.stack(
            [
                np.bincount(self.topics.assignment[self._excluded(query)], minlength=n_topics)
                for query in queries
            ]
        ).astype(np.float64)
        totals = counts.sum(axis=1, keepdims=True)
        return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)

    def _final(
        self, scores: Tensor, k: int, rerank: RerankConfig, targets: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``final_lists`` of ``scores`` (B, I): the lists (B, k) and their scores (B, k).

        A re-ranker reads only the candidates, so it is given the columns that are some
        user's candidate and those items' vectors or topics: the same lists (the top
        candidates of a user are among them, in catalogue order), at a cost that does not
        grow with the catalogue."""
        if rerank.method == "none":
            lists = final_lists(scores, k, rerank)
        else:
            n_candidates = min(max(rerank.candidates, k), self.n_items)
            columns = torch.unique(torch.topk(scores, n_candidates, dim=1).indices)  # sorted
            vectors = topics = None
            if rerank.method in ("mmr", "dpp"):
                vectors = self._vectors[columns]
            if rerank.method == "calibrated":
                assert self.topics is not None
                # Only ``assignment`` is read: the candidates' topics, in column order.
                topics = Topics(
                    self.topics.assignment[columns.numpy()],
                    self.topics.centroids,
                    self.topics.labels,
                    self.topics.sizes,
                )
            picked = final_lists(scores[:, columns], k, rerank, vectors, topics, targets)
            lists = columns[picked]
        return lists.numpy(), scores.gather(1, lists).double().numpy()

    def _popular(self, query: Query, k: int) -> RankedList:
        """The ``k`` most popular items, those the user has seen left out (or, past the
        unseen ones, last with score ``-inf``)."""
        excluded = self._excluded(query) if query.exclude_seen else np.zeros(0, np.int64)
        order = self._popular_order[: k + len(excluded)]
        seen = np.isin(order, excluded)
        items = order[~seen][:k]
        scores = self._popularity[items].astype(np.float64)
        if len(items) < k:  # the catalogue has fewer than k unseen items
            rest = np.unique(excluded)[: k - len(items)]
            items = np.concatenate([items, rest])
            scores = np.concatenate([scores, np.full(len(rest), -np.inf)])
        return RankedList(query.user_id, "popularity", items, scores)


def catalogue_scorer(tower: PairTower | DotTower, items: Tensor) -> Callable[[Tensor], Tensor]:
    """``tower.grid(users, items)`` for many batches of (B, H) user vectors: (B, I) scores.

    For the dot head the item side is laid out once as one (H + 1, I) matrix, the item term
    ``w_item . v`` its last row: a list is then one pass over it. ``DotTower.grid`` reads the
    (I, H) items twice a call (the product and the item term), and over a large catalogue
    that read is the cost (100,000 items: 7 ms of a 19 ms request here). Other heads score
    through their own ``grid``."""
    if not isinstance(tower, DotTower):
        return lambda users: tower.grid(users, items)
    with torch.inference_mode():
        item_side = torch.cat([items.T, tower.w_item(items).T]).contiguous()  # (H + 1, I)
    weight, bias, w_user = tower.gmf.weight, tower.gmf.bias, tower.w_user

    def score(users: Tensor) -> Tensor:
        left = torch.cat([users * weight, users.new_ones(len(users), 1)], dim=1)  # (B, H + 1)
        return torch.addmm(bias + w_user(users), left, item_side)  # (B, I)

    return score


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
    rerank = rerank or NO_RERANK
    interests = interests or InterestsConfig()
    if (explain_items or rerank.method == "calibrated") and topics is None:
        raise ValueError("explanations and calibrated re-ranking need the item topics")
    recommender = Recommender(trained, history, topics)
    k = min(k, recommender.n_items)
    wanted = list(trained.user_ids) if user_ids is None else [str(u) for u in user_ids]
    profiles = profiles or {}
    queries = [Query(user, profile=profiles.get(user)) for user in wanted]
    lists = [
        ranked
        for start in range(0, len(queries), batch_size)
        for ranked in recommender.rank(queries[start : start + batch_size], k, rerank)
    ]
    columns = ["user_id", "item_id", "rank", "score", "source"]
    if not lists:
        return pd.DataFrame(columns=[*columns, *(["reason"] if explain_items else [])])
    items = np.asarray(trained.item_ids, dtype=object)
    frame = pd.DataFrame(
        {
            "user_id": np.repeat(np.asarray(wanted, dtype=object), k),
            "item_id": items[np.concatenate([ranked.items for ranked in lists])],
            "rank": np.tile(np.arange(1, k + 1), len(lists)),
            "score": np.concatenate([ranked.scores for ranked in lists]),
            "source": np.repeat([ranked.source for ranked in lists], k),
        }
    )
    if explain_items:
        assert topics is not None
        history = history.reset_index(drop=True)  # row labels are positions below
        index = recommender.item_index
        seen_items = history["item_id"].astype(str).map(index)
        seen = pd.DataFrame({"user_id": history["user_id"].astype(str), "item": seen_items})
        position = {user: r for r, user in enumerate(wanted)}
        shares = _wanted_shares(history, seen.dropna(), position, topics, interests)
        # Every user holds k consecutive rows: one (users, k) block of item indices.
        listed = np.stack([ranked.items for ranked in lists])
        recent = shares.recent[[position[u] for u in wanted]]
        frame["reason"] = [r for line in explain(listed, recent, topics) for r in line]
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


def read_profiles(path: Path, encoder: EncoderConfig) -> dict[str, np.ndarray]:
    """Profile texts of users the model may not know, from CSV or Parquet ``user_id,text``,
    encoded with the run's encoder: user id -> unit-length text vector."""
    from mtrec.features.encoder import TextEncoder

    if not path.is_file():
        raise FileNotFoundError(f"profiles file not found: {path}")
    is_parquet = path.suffix in (".parquet", ".pq")
    table = pd.read_parquet(path) if is_parquet else pd.read_csv(path, dtype=str)
    if not {"user_id", "text"} <= set(table.columns):
        raise ValueError(f"profiles file {path} needs columns user_id,text")
    model = TextEncoder.from_config(encoder)
    vectors = model.encode(table["text"].fillna("").astype(str).tolist())
    return dict(zip(table["user_id"].astype(str), vectors, strict=True))


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
