"""Final recommendation lists, re-ranked for diversity or calibration, and what that costs.

``final_lists`` turns a model's full-catalogue scores into each user's list: the top
``RerankConfig.candidates`` items by score, narrowed to ``k`` by the configured re-ranker of
:mod:`mtrec.evaluation.rerank` and listed by score (``LIST_ORDER``). Evaluation and
``make recommend`` both call it, so the lists a user is served are the lists that were measured.

``rerank_tradeoff`` measures every re-ranker at every ``RerankConfig.grid`` lambda on the test
split (the RecBole view: train and valid masked): NDCG@10 and Recall@10 against test, the
beyond-accuracy metrics of :func:`mtrec.evaluation.beyond.beyond_accuracy` and Steck's
calibration KL against each user's topic shares over train + valid. Each method's rows carry
a Pareto flag over (NDCG@10, intra-list diversity), and each method's best lambda within the
accuracy budget (``MAX_NDCG_LOSS``) is reported with its gains over lambda 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, get_args

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from mtrec.config import RerankConfig, RerankMethodName
from mtrec.evaluation.beyond import beyond_accuracy
from mtrec.evaluation.interests import Topics, topic_shares
from mtrec.evaluation.metrics import evaluate_ranking, metrics_from_hits
from mtrec.evaluation.rerank import ListOrder, calibration_kl, rerank, top_candidates

TRADEOFF_K = 10
TRADEOFF_METHODS: tuple[RerankMethodName, ...] = ("mmr", "dpp", "calibrated")
MAX_NDCG_LOSS = 0.02  # the accuracy budget: at most 2% relative NDCG@10 below lambda 0
DIVERSITY_GOAL = 0.15  # mmr / dpp: intra-list diversity at least 15% above lambda 0 ...
COVERAGE_GOAL = 0.30  # ... and catalogue coverage at least 30% above
KL_GOAL = 0.30  # calibrated: calibration KL at least 30% below lambda 0
LIST_ORDER: ListOrder = "score"  # re-ranked picks are listed by score (see rerank's docstring)

assert set(get_args(RerankMethodName)) == {"none", *TRADEOFF_METHODS}


@dataclass(frozen=True)
class TradeoffPoint:
    """One re-ranker at one lambda, on the test users' top-``TRADEOFF_K`` lists."""

    method: RerankMethodName
    lam: float
    ndcg: float
    recall: float
    intra_list_diversity: float
    coverage: float
    gini: float
    novelty: float
    popularity_lift: float
    calibration_kl: float
    on_pareto_front: bool = False


@dataclass(frozen=True)
class MethodChoice:
    """A method's best lambda within the NDCG@10 budget, with relative changes over lambda 0
    (``0.2`` is +20%); ``meets_goal`` says whether the issue's goal for the method holds."""

    method: RerankMethodName
    lam: float
    ndcg_change: float
    diversity_gain: float
    coverage_gain: float
    kl_change: float
    meets_goal: bool


@dataclass(frozen=True)
class RerankTradeoff:
    """The measured trade-off; ``to_dict`` is its ``metrics.json`` form, ``from_dict`` reads
    that back."""

    method: RerankMethodName
    """The configured method and lambda (what the served lists use)."""
    lam: float
    candidates: int
    k: int
    points: tuple[TradeoffPoint, ...]
    choices: tuple[MethodChoice, ...]
    users: int | None = None
    """The test users the points are measured on (a sample where there are more than
    ``RerankConfig.tradeoff_users``)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "lambda": self.lam,
            "candidates": self.candidates,
            "k": self.k,
            "users": self.users,
            "goal": {
                "max_ndcg_loss": MAX_NDCG_LOSS,
                "diversity_gain": DIVERSITY_GOAL,
                "coverage_gain": COVERAGE_GOAL,
                "kl_reduction": KL_GOAL,
            },
            "rows": [asdict(point) for point in self.points],
            "best": {choice.method: asdict(choice) for choice in self.choices},
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RerankTradeoff:
        return cls(
            method=raw["method"],
            lam=float(raw["lambda"]),
            candidates=int(raw["candidates"]),
            k=int(raw["k"]),
            points=tuple(TradeoffPoint(**row) for row in raw["rows"]),
            choices=tuple(MethodChoice(**choice) for choice in raw["best"].values()),
            users=raw.get("users"),
        )

    def configured_point(self) -> TradeoffPoint | None:
        """The row the served lists match: method ``none`` is any method at lambda 0."""
        for point in self.points:
            if self.method == "none" and point.lam == 0.0:
                return point
            if point.method == self.method and point.lam == self.lam:
                return point
        return None


def final_lists(
    scores_full: Tensor,
    k: int,
    config: RerankConfig,
    item_vectors: Tensor | np.ndarray | None = None,
    topics: Topics | None = None,
    target_shares: Tensor | np.ndarray | None = None,
) -> Tensor:
    """Each user's final list (U, k) of catalogue indices from ``scores_full`` (U, I), whose
    already-seen items the caller has set to ``-inf``.

    ``none``: ``torch.topk`` of the scores. Otherwise the top ``max(config.candidates, k)``
    (at most I) by score, re-ranked by ``config.method`` at ``config.lam``; ``mmr`` and
    ``dpp`` need the (I, D) ``item_vectors`` (text embeddings), ``calibrated`` the ``topics``
    and each user's (U, T) ``target_shares``."""
    n_items = scores_full.shape[1]
    if not 1 <= k <= n_items:
        raise ValueError(f"k must be in [1, {n_items}] (the catalogue), got {k}")
    values, candidates = top_candidates(scores_full, final_candidates(config, k, n_items))
    return rerank_candidates(values, candidates, k, config, item_vectors, topics, target_shares)


def final_candidates(config: RerankConfig, k: int, n_items: int) -> int:
    """How many best-scored items :func:`final_lists` re-ranks into a list of ``k``."""
    return k if config.method == "none" else min(max(config.candidates, k), n_items)


def rerank_candidates(
    values: Tensor,
    candidates: Tensor,
    k: int,
    config: RerankConfig,
    item_vectors: Tensor | np.ndarray | None = None,
    topics: Topics | None = None,
    target_shares: Tensor | np.ndarray | None = None,
) -> Tensor:
    """:func:`final_lists` from each user's best-scored items, best first: their scores
    ``values`` (U, C) and catalogue indices ``candidates`` (U, C), ``C`` at least
    :func:`final_candidates` (only that many are read)."""
    if not 1 <= k <= candidates.shape[1]:
        raise ValueError(f"k must be in [1, {candidates.shape[1]}] (the candidates), got {k}")
    if config.method == "none":
        return candidates[:, :k]
    width = final_candidates(config, k, candidates.shape[1])
    return _rerank(
        values[:, :width],
        candidates[:, :width],
        k,
        config.method,
        config.lam,
        item_vectors,
        topics,
        target_shares,
    )


def _rerank(
    values: Tensor,
    candidates: Tensor,
    k: int,
    method: RerankMethodName,
    lam: float,
    item_vectors: Tensor | np.ndarray | None,
    topics: Topics | None,
    target_shares: Tensor | np.ndarray | None,
) -> Tensor:
    """``rerank`` with the inputs each method needs checked and brought to tensors."""
    if method in ("mmr", "dpp") and item_vectors is None:
        raise ValueError(f"re-ranker {method!r} needs the item text embeddings")
    item_topics = targets = None
    if method == "calibrated":
        if topics is None or target_shares is None:
            raise ValueError("re-ranker 'calibrated' needs topics and the users' target shares")
        item_topics = torch.from_numpy(topics.shares_matrix()).float()  # (I, T)
        targets = torch.as_tensor(target_shares).float()  # (U, T)
    # The calibrated re-ranker reads no vectors; rerank still checks indices against them.
    vectors = torch.as_tensor(item_vectors) if item_vectors is not None else None
    if vectors is None:
        assert item_topics is not None
        vectors = item_topics
    return rerank(
        values, candidates, vectors, k, method, lam, targets, item_topics, order=LIST_ORDER
    )


class TopCandidates:
    """Each of ``n_users`` users' ``n`` best-scored items, filled batch by batch, in order,
    from masked (B, I) scores (an ``on_scores`` of
    :func:`mtrec.evaluation.metrics.evaluate_ranking`).

    The tables are allocated once: keeping each batch's small top-``n`` tensors between the
    batches' large transient score matrices fragmented the heap until 200,000 users over
    50,000 items held 20 GB."""

    def __init__(self, n: int, n_users: int):
        self.n, self.n_users = n, n_users
        self._values = torch.zeros(n_users, n)  # replaced by the first batch, unless none comes
        self._items = torch.zeros(n_users, n, dtype=torch.long)
        self._filled = 0

    def __call__(self, scores: Tensor) -> None:
        if self._filled == 0:  # the width is known from the first batch: at most the catalogue
            width = min(self.n, scores.shape[1])
            self._values = torch.empty(self.n_users, width)
            self._items = torch.empty(self.n_users, width, dtype=torch.long)
        rows = slice(self._filled, self._filled + len(scores))
        if rows.stop > self.n_users:
            raise ValueError(f"more than the {self.n_users} users these tops were sized for")
        width = self._items.shape[1]
        torch.topk(scores, width, dim=1, out=(self._values[rows], self._items[rows]))
        self._filled = rows.stop

    def tensors(self) -> tuple[Tensor, Tensor]:
        """The scores (U, n) and catalogue indices (U, n) of every user, in order (``n`` at
        most the catalogue)."""
        if self._filled != self.n_users:
            raise ValueError(f"tops filled for {self._filled} of {self.n_users} users")
        return self._values, self._items


def tradeoff_width(config: RerankConfig, keep_top: int = 0) -> int:
    """How many best-scored items per user :func:`rerank_tradeoff` reads (at most the
    catalogue): the grid's candidates and the kept lists' own."""
    return max(config.candidates, TRADEOFF_K, keep_top)


def rerank_tradeoff(
    score_users: Callable[[Tensor], Tensor],
    n_items: int,
    truth: pd.DataFrame,
    history: pd.DataFrame,
    train_item_counts: np.ndarray,
    n_users: int,
    item_embeddings: np.ndarray,
    topics: Topics,
    config: RerankConfig,
    keep_top: int = 0,
    batch_size: int | None = None,
    seed: int = 0,
    tops: TopCandidates | None = None,
) -> tuple[RerankTradeoff, np.ndarray | None]:
    """Every re-ranker at every ``config.grid`` lambda on the users of ``truth``
    (``user_idx,item_idx``), with the ``history`` items masked; and, when ``keep_top`` > 0,
    the (U, keep_top) lists of ``final_lists`` with ``config`` itself, for the users in
    ascending index order (those of :func:`mtrec.evaluation.metrics.evaluate_ranking`).

    ``score_users`` maps (B,) user indices to (B, I) scores; ``train_item_counts`` (I,) and
    ``n_users`` define popularity and novelty as in ``beyond_accuracy``; the calibration
    target of a user is their topic shares over ``history``. Users are scored in batches and
    their candidates computed once, then re-ranked for every method and lambda; the grid
    runs on at most ``config.tradeoff_users`` of them (a sample drawn with ``seed``), the kept
    lists cover every user. ``tops``: the users' best-scored items already collected from
    these scores (:func:`mtrec.evaluation.metrics.evaluate_ranking`'s ``on_scores``), at least
    :func:`tradeoff_width` of them each; ``score_users`` is then not called."""
    if topics.n_items != n_items or len(item_embeddings) != n_items:
        raise ValueError(
            f"{n_items} items, but {topics.n_items} in the topics and {len(item_embeddings)} "
            "item embeddings"
        )
    k = min(TRADEOFF_K, n_items)
    n_candidates = min(max(config.candidates, k), n_items)
    truth_users = truth["user_idx"].to_numpy(np.int64)
    truth_items = truth["item_idx"].to_numpy(np.int64)
    seen_users = history["user_idx"].to_numpy(np.int64)
    seen_items = history["item_idx"].to_numpy(np.int64)
    users = np.unique(truth_users)
    size = int(max(truth_users.max(initial=-1), seen_users.max(initial=-1), n_users - 1)) + 1
    targets = topic_shares(history, topics, size)[users]  # (U, T)
    position = np.full(size, -1, dtype=np.int64)
    position[users] = np.arange(len(users))
    vectors = torch.from_numpy(np.ascontiguousarray(item_embeddings, dtype=np.float32))
    width = min(keep_top, n_items)
    # The kept lists re-rank a prefix of the same best-scored items the grid reads.
    n_top = min(tradeoff_width(config, keep_top), n_items)
    if tops is None:  # the ranking's own loop scores and masks; the tops collect its scores
        tops = TopCandidates(n_top, len(users))
        evaluate_ranking(
            score_users,
            n_items,
            truth_users,
            truth_items,
            seen_users,
            seen_items,
            (k,),
            batch_size=batch_size,
            on_scores=tops,
        )
    top_values, top_items = tops.tensors()
    if top_items.shape[0] != len(users) or top_items.shape[1] < n_top:
        raise ValueError(
            f"tops hold {tuple(top_items.shape)} items for {len(users)} users, {n_top} each needed"
        )
    top_values, top_items = top_values[:, :n_top], top_items[:, :n_top]
    all_values, all_candidates = top_values[:, :n_candidates], top_items[:, :n_candidates]

    # The grid's users: all, or a seeded sample of them (rows of the candidate tensors).
    rows = np.arange(len(users))
    if config.tradeoff_users is not None and len(users) > config.tradeoff_users:
        sample = np.random.default_rng(seed).choice(len(users), config.tradeoff_users, False)
        rows = np.sort(sample)
    row_of = np.full(len(users), -1, dtype=np.int64)
    row_of[rows] = np.arange(len(rows))
    truth_rows = row_of[position[truth_users]]
    sampled = truth_rows >= 0
    truth_keys = np.unique(truth_rows[sampled] * n_items + truth_items[sampled])
    n_truth = np.bincount(truth_rows[sampled], minlength=len(rows))
    grid_values, grid_candidates = all_values[rows], all_candidates[rows]
    grid_targets = targets[rows]
    item_topics = torch.from_numpy(topics.shares_matrix()).float()
    target_tensor = torch.from_numpy(grid_targets).float()
    has_history = grid_targets.sum(1) > 0
    points = []
    for method in TRADEOFF_METHODS:
        for lam in config.grid:
            lists = _rerank(
                grid_values, grid_candidates, k, method, lam, vectors, topics, grid_targets
            )
            top = lists.numpy()  # (U, k)
            keys = np.arange(len(rows))[:, None] * n_items + top
            hits = np.isin(keys, truth_keys)
            if hits.shape[1] < TRADEOFF_K:  # a K beyond the catalogue: the rest are misses
                hits = np.pad(hits, ((0, 0), (0, TRADEOFF_K - hits.shape[1])))
            ranking = metrics_from_hits(hits, n_truth, (TRADEOFF_K,)).mean(0)
            beyond = beyond_accuracy(top, train_item_counts, n_users, item_embeddings)
            kl = calibration_kl(target_tensor, lists, item_topics).numpy()
            points.append(
                TradeoffPoint(
                    method=method,
                    lam=float(lam),
                    ndcg=float(ranking[1]),
                    recall=float(ranking[0]),
                    intra_list_diversity=beyond.get("intra_list_diversity", float("nan")),
                    coverage=beyond.get("coverage", float("nan")),
                    gini=beyond.get("gini", float("nan")),
                    novelty=beyond.get("novelty", float("nan")),
                    popularity_lift=beyond.get("popularity_lift", float("nan")),
                    calibration_kl=float(kl[has_history].mean()) if has_history.any() else 0.0,
                )
            )
    points = mark_pareto_front(points)
    tradeoff = RerankTradeoff(
        method=config.method,
        lam=config.lam,
        candidates=n_candidates,
        k=k,
        points=tuple(points),
        choices=tuple(best_within_budget(points, method) for method in TRADEOFF_METHODS),
        users=len(rows),
    )
    if not keep_top:
        return tradeoff, None
    kept = rerank_candidates(top_values, top_items, width, config, vectors, topics, targets)
    return tradeoff, kept.numpy()


def mark_pareto_front(points: list[TradeoffPoint]) -> list[TradeoffPoint]:
    """The points with ``on_pareto_front`` set per method: no other point of the method has
    NDCG@10 and intra-list diversity both at least as high and one of them higher."""

    def dominated(point: TradeoffPoint, other: TradeoffPoint) -> bool:
        at_least = other.ndcg >= point.ndcg and other.intra_list_diversity >= (
            point.intra_list_diversity
        )
        better = other.ndcg > point.ndcg or other.intra_list_diversity > point.intra_list_diversity
        return at_least and better

    return [
        replace(
            point,
            on_pareto_front=not any(
                dominated(point, other) for other in points if other.method == point.method
            ),
        )
        for point in points
    ]


def best_within_budget(points: list[TradeoffPoint], method: RerankMethodName) -> MethodChoice:
    """``method``'s best lambda losing at most ``MAX_NDCG_LOSS`` relative NDCG@10 against its
    lambda 0: a lambda meeting the goal first, then the most diverse (``mmr``, ``dpp``) or the
    best calibrated (``calibrated``); ties go to the smaller lambda."""
    rows = sorted((p for p in points if p.method == method), key=lambda p: p.lam)
    reference = next((p for p in rows if p.lam == 0.0), None)
    if reference is None:
        raise ValueError(f"no lambda-0 row for {method!r}: the reference of every gain")

    def change(value: float, base: float) -> float:
        return value / base - 1.0 if base else (0.0 if value == base else float("inf"))

    def choice(point: TradeoffPoint) -> MethodChoice:
        diversity = change(point.intra_list_diversity, reference.intra_list_diversity)
        coverage = change(point.coverage, reference.coverage)
        kl = change(point.calibration_kl, reference.calibration_kl)
        if method == "calibrated":
            meets = kl <= -KL_GOAL
        else:
            meets = diversity >= DIVERSITY_GOAL and coverage >= COVERAGE_GOAL
        return MethodChoice(
            method=method,
            lam=point.lam,
            ndcg_change=change(point.ndcg, reference.ndcg),
            diversity_gain=diversity,
            coverage_gain=coverage,
            kl_change=kl,
            meets_goal=bool(meets and point.lam > 0.0),
        )

    within = [choice(p) for p in rows if p.ndcg >= (1.0 - MAX_NDCG_LOSS) * reference.ndcg]
    if method == "calibrated":
        return max(within, key=lambda c: (c.meets_goal, -c.kl_change, -c.lam))
    return max(within, key=lambda c: (c.meets_goal, c.diversity_gain, -c.lam))
