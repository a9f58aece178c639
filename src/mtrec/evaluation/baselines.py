"""Baselines with hyperparameters chosen on valid, as RecBole's search and the papers do.

A search fits each candidate on train, ranks the whole catalogue for every valid user with
the user's train items masked, and keeps the candidate with the best valid NDCG@10 (on a tie,
the first in grid order):

- popularity: nothing to choose.
- ItemKNN (Sarwar et al. 2001): neighbourhood ``k`` x shrinkage. The co-occurrence counts are
  computed once and the cosine once per shrinkage; each ``k`` re-thresholds it.
- EASE (Steck 2019): ``l2`` on a log grid, one Cholesky inverse each.
- ItemKNN and EASE hold dense ``I x I`` matrices (the user-item history stays sparse): each
  is skipped, with the reason, where its estimated peak would not fit
  ``baseline_max_memory_mb``.
- BPR-MF (Rendle et al. 2009): ``l2``, and the number of epochs by early stopping on valid
  (checked every :func:`bpr_check_every` epochs, stopped after ``BPR_PATIENCE`` checks
  without a better value, at most ``BPR_MAX_EPOCHS``), as RecBole trains with a validation
  set.

:func:`fit_baseline` then fits chosen parameters on any interactions: train (RecBole's view:
the model that was validated scores test) or train and valid together (a serving view, where
BPR-MF trains the chosen number of epochs).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, get_args

import numpy as np
import pandas as pd
from torch import Tensor

from mtrec.config import BaselineName
from mtrec.evaluation.metrics import evaluate_ranking
from mtrec.evaluation.results import TUNING_METRIC, Params
from mtrec.models.baselines.bpr import BPRMF, train_bpr
from mtrec.models.baselines.ease import (
    EASE,
    ease_memory_bytes,
    ease_weights,
    gram_matrix,
    scatter_weights,
)
from mtrec.models.baselines.itemknn import (
    History,
    ItemKNN,
    cosine_similarity,
    itemknn_memory_bytes,
    keep_neighbours,
    ranked_similarities,
)
from mtrec.models.baselines.popularity import Popularity

BASELINES: tuple[BaselineName, ...] = get_args(BaselineName)

Scorer = Callable[[Tensor], Tensor]
"""A fitted baseline's ``score_items``: (B,) user indices -> (B, I) scores."""

ITEMKNN_KS = (10, 25, 50, 100, 200, 400)
ITEMKNN_SHRINKS = (0.0, 10.0, 50.0, 100.0)
EASE_L2S = (1.0, 5.0, 10.0, 50.0, 100.0, 200.0, 300.0, 500.0, 1000.0, 2000.0, 5000.0)
BPR_L2S = (1e-3, 1e-2)
"""``train_bpr``'s ``l2`` weighs squared factor norms per training pair. Valid NDCG@10 curves on
MovieLens-100k (seed 42): 0, 1e-5 and 1e-4 train within 0.001 of 1e-3's curve; with the time
order 1e-3 peaks highest (0.124 at epoch 40, 1e-2 0.122), with the random order 1e-2 does
(0.241 at epoch 60, 1e-3 0.218 at 15, 3e-2 0.202), and 1e-1 is far worse (0.07). Each value
costs a training run of ~50 epochs, hence two."""
BPR_MAX_EPOCHS = 100
BPR_CHECK_EVERY = 5
BPR_CHECK_PAIRS = 400_000
"""BPR-MF is checked on valid about every this many training pairs, and at least every
``BPR_CHECK_EVERY`` epochs: every 5 epochs on MovieLens-100k's 80,000 training rows, every
epoch from about 400,000 rows on. Checking every 5
epochs on the synthetic 10M log (8M rows an epoch) trained 40 epochs of 55 s for a curve
that is flat from the second epoch (valid NDCG@10 0.118, 0.126, 0.124, 0.125, 0.126)."""
BPR_PATIENCE = 2
DEFAULT_PARAMS: dict[str, Params] = {
    "popularity": {},
    "itemknn": {"k": 100, "shrink": 10.0},
    "ease": {"l2": 500.0},
    "bpr": {"l2": 1e-5, "epochs": 30},
}
"""What :func:`fit_baseline` uses for a parameter it is not given."""
DEFAULT_BASELINE_MAX_MEMORY_MB = 4096.0

logger = logging.getLogger(__name__)


class BaselineSkipped(Exception):
    """A baseline that cannot run within its budget; ``reason`` says why, in one line."""

    def __init__(self, name: str, reason: str):
        super().__init__(reason)
        self.name = name
        self.reason = reason

    def to_dict(self) -> dict[str, str]:
        return {"skipped": self.reason}


@dataclass(frozen=True)
class TunedBaseline:
    """The outcome of one baseline's search on valid."""

    name: str
    params: Params
    """The chosen parameters, in :func:`fit_baseline`'s terms (BPR-MF: ``l2`` and ``epochs``)."""
    valid_ndcg: float
    """Valid NDCG@10 of the chosen parameters; NaN when valid was empty (defaults kept)."""
    grid: tuple[tuple[Params, float], ...]
    """Every candidate tried, with its valid NDCG@10, in the order tried."""
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": dict(self.params),
            "valid_ndcg": self.valid_ndcg,
            "grid": [{"params": dict(p), TUNING_METRIC: v} for p, v in self.grid],
            "seconds": self.seconds,
        }


def check_memory(name: str, n_users: int, n_items: int, max_memory_mb: float) -> None:
    """Raise :class:`BaselineSkipped` when baseline ``name`` over ``n_users`` x ``n_items``
    needs more than the budget (the dense ones: EASE and ItemKNN)."""
    if name == "ease":
        need, what = ease_memory_bytes(n_items), f"{n_items:,} items"
    elif name == "itemknn":
        need = itemknn_memory_bytes(n_users, n_items)
        what = f"{n_users:,} users and {n_items:,} items"
    else:
        return
    if need > max_memory_mb * 2**20:
        size = f"{need / 2**30:.1f} GB" if need >= 2**30 else f"{need / 2**20:.3g} MB"
        label = {"ease": "EASE", "itemknn": "ItemKNN"}[name]
        raise BaselineSkipped(
            name,
            f"{label} needs {size} for {what}, over evaluation.baseline_max_memory_mb "
            f"{max_memory_mb:g}",
        )


def _columns(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return frame["user_idx"].to_numpy(np.int64), frame["item_idx"].to_numpy(np.int64)


def _history_scorer(history: History, weights: Tensor) -> Scorer:
    def score_items(users: Tensor) -> Tensor:
        return history.scores(users, weights)  # (B, I) @ (I, I) -> (B, I)

    return score_items


def fit_baseline(
    name: str,
    params: Params,
    interactions: pd.DataFrame,
    n_users: int,
    n_items: int,
    seed: int = 0,
    baseline_max_memory_mb: float = DEFAULT_BASELINE_MAX_MEMORY_MB,
) -> Scorer:
    """Fit baseline ``name`` on ``interactions`` with ``params`` (missing ones from
    :data:`DEFAULT_PARAMS`) and return its scorer. Raises :class:`BaselineSkipped` for EASE
    or ItemKNN over the memory budget, before allocating anything."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose from {BASELINES}")
    check_memory(name, n_users, n_items, baseline_max_memory_mb)
    chosen = {**DEFAULT_PARAMS[name], **params}
    users, items = _columns(interactions)
    if name == "popularity":
        return Popularity(users, items, n_items).score_items
    if name == "itemknn":
        k, shrink = int(chosen["k"]), float(chosen["shrink"])
        return ItemKNN(users, items, n_users, n_items, k=k, shrink=shrink).score_items
    if name == "ease":
        return EASE(users, items, n_users, n_items, l2=float(chosen["l2"])).score_items
    epochs, l2 = int(chosen["epochs"]), float(chosen["l2"])
    return train_bpr(users, items, n_users, n_items, epochs=epochs, l2=l2, seed=seed).score_items


TUNING_USERS = 10_000
"""A search scores at most this many valid users, a seeded sample: every candidate ranks the
whole catalogue for each valid user (200,000 of them on the synthetic 10M log, 943 on
MovieLens-100k). A mean over 10,000 users has a standard error of about 0.003 NDCG@10."""


def _of_users(
    pairs: tuple[np.ndarray, np.ndarray], users: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isin(pairs[0], users)
    return pairs[0][keep], pairs[1][keep]


class _Validator:
    """Valid NDCG@10 of a scorer: full ranking, the user's train items masked; over at most
    :data:`TUNING_USERS` valid users (a sample drawn with ``seed``)."""

    def __init__(self, train: pd.DataFrame, valid: pd.DataFrame, n_items: int, seed: int = 0):
        self.seen, self.truth, self.n_items = _columns(train), _columns(valid), n_items
        users = np.unique(self.truth[0])
        if len(users) > TUNING_USERS:
            sample = np.random.default_rng(seed).choice(users, TUNING_USERS, replace=False)
            self.truth, self.seen = _of_users(self.truth, sample), _of_users(self.seen, sample)

    def __call__(self, scorer: Scorer) -> float:
        means, _, _ = evaluate_ranking(scorer, self.n_items, *self.truth, *self.seen, (10,))
        return means[TUNING_METRIC]


def tune_baseline(
    name: str,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    n_users: int,
    n_items: int,
    seed: int = 0,
    baseline_max_memory_mb: float = DEFAULT_BASELINE_MAX_MEMORY_MB,
) -> TunedBaseline:
    """Choose ``name``'s parameters on valid (see the module docstring for the grids)."""
    tuned, _ = tune_and_fit_baseline(
        name, train, valid, n_users, n_items, seed, baseline_max_memory_mb
    )
    return tuned


def tune_and_fit_baseline(
    name: str,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    n_users: int,
    n_items: int,
    seed: int = 0,
    baseline_max_memory_mb: float = DEFAULT_BASELINE_MAX_MEMORY_MB,
) -> tuple[TunedBaseline, Scorer]:
    """:func:`tune_baseline` and the chosen candidate's scorer, fitted on train: what
    ``fit_baseline(name, tuned.params, train, ...)`` returns, without fitting it again (for
    BPR-MF, the weights of the chosen check; a refit trains the same weights up to float
    summation order)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose from {BASELINES}")
    check_memory(name, n_users, n_items, baseline_max_memory_mb)
    started = time.perf_counter()
    if valid.empty:  # nothing to choose on: the defaults
        scorer = fit_baseline(name, {}, train, n_users, n_items, seed, baseline_max_memory_mb)
        tuned = TunedBaseline(
            name, dict(DEFAULT_PARAMS[name]), float("nan"), (), time.perf_counter() - started
        )
        return tuned, scorer
    validate = _Validator(train, valid, n_items, seed)
    searches = {
        "popularity": _search_popularity,
        "itemknn": _search_itemknn,
        "ease": _search_ease,
        "bpr": _search_bpr,
    }
    grid, best, scorer = searches[name](train, n_users, n_items, seed, validate)
    params, value = grid[best]
    seconds = time.perf_counter() - started
    chosen = ", ".join(f"{key}={val}" for key, val in params.items()) or "no parameters"
    logger.info(
        "[%s] tuned on valid: %s (valid ndcg@10 %.4f, %d candidates, %.1f s)",
        name,
        chosen,
        value,
        len(grid),
        seconds,
    )
    return TunedBaseline(name, params, value, tuple(grid), seconds), scorer


_Search = tuple[list[tuple[Params, float]], int, Scorer]
"""Every candidate with its value, the index of the best one, and its scorer."""


def _better(value: float, grid: list[tuple[Params, float]], best: int) -> bool:
    return best < 0 or value > grid[best][1]


def _search_popularity(
    train: pd.DataFrame, n_users: int, n_items: int, seed: int, validate: _Validator
) -> _Search:
    scorer = fit_baseline("popularity", {}, train, n_users, n_items)
    return [({}, validate(scorer))], 0, scorer


def _search_itemknn(
    train: pd.DataFrame, n_users: int, n_items: int, seed: int, validate: _Validator
) -> _Search:
    history = History(*_columns(train), n_users, n_items)
    co = history.gram()  # (I, I) co-occurrence counts, shared by every candidate

    def candidates() -> Iterator[tuple[Params, Scorer]]:
        for shrink in ITEMKNN_SHRINKS:
            similarity = cosine_similarity(co, shrink)  # (I, I)
            ranked = ranked_similarities(similarity, max(ITEMKNN_KS))  # (I, max k)
            for k in ITEMKNN_KS:
                weights = keep_neighbours(similarity, k, ranked)
                yield {"k": k, "shrink": shrink}, _history_scorer(history, weights)

    return _best_of(candidates(), validate)


def _search_ease(
    train: pd.DataFrame, n_users: int, n_items: int, seed: int, validate: _Validator
) -> _Search:
    users, items = _columns(train)
    history = History(users, items, n_users, n_items)
    seen = np.unique(items)
    gram = gram_matrix(history, seen)  # (S, S) float64, shared by every candidate
    candidates = (
        (
            {"l2": l2},
            _history_scorer(history, scatter_weights(ease_weights(gram, l2), seen, n_items)),
        )  # (I, I) float32
        for l2 in EASE_L2S
    )
    return _best_of(candidates, validate)


def _best_of(candidates: Iterable[tuple[Params, Scorer]], validate: _Validator) -> _Search:
    """Score each candidate on valid as it comes (one held at a time), keep the best."""
    grid: list[tuple[Params, float]] = []
    best, best_scorer = -1, None
    for params, scorer in candidates:
        grid.append((params, validate(scorer)))
        if _better(grid[-1][1], grid, best):
            best, best_scorer = len(grid) - 1, scorer
    assert best_scorer is not None
    return grid, best, best_scorer


def bpr_check_every(n_pairs: int) -> int:
    """Epochs between two checks of BPR-MF on valid, for ``n_pairs`` training pairs."""
    return max(1, min(BPR_CHECK_EVERY, round(BPR_CHECK_PAIRS / max(n_pairs, 1))))


def _search_bpr(
    train: pd.DataFrame, n_users: int, n_items: int, seed: int, validate: _Validator
) -> _Search:
    users, items = _columns(train)
    check_every = bpr_check_every(len(users))
    grid: list[tuple[Params, float]] = []
    best, best_model = -1, None
    for l2 in BPR_L2S:
        run_best, stale = float("-inf"), 0

        def check(epoch: int, model: BPRMF, l2: float = l2) -> bool:
            nonlocal best, best_model, run_best, stale
            if epoch % check_every:
                return False
            grid.append(({"l2": l2, "epochs": epoch}, validate(model.score_items)))
            if _better(grid[-1][1], grid, best):
                best, best_model = len(grid) - 1, copy.deepcopy(model)
            stale = 0 if grid[-1][1] > run_best else stale + 1
            run_best = max(run_best, grid[-1][1])
            return stale >= BPR_PATIENCE

        train_bpr(
            users, items, n_users, n_items, epochs=BPR_MAX_EPOCHS, l2=l2, seed=seed, on_epoch=check
        )
    assert best_model is not None
    return grid, best, best_model.eval().score_items
