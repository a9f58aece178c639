"""The promotion gate's evidence: candidate and production scored head to head on the same
users and the same fresh data, compared with a paired bootstrap over users.

The production model was trained on its own data, with its own id maps; :func:`aligned_scorer`
scores the current catalogue with it, translating ids. Items it has never seen cannot be
recommended by it (score ``-inf``), which is what serving it would do; users it has never seen
are left out of the comparison (both models are compared on the users both know).

Paired bootstrap (Efron & Tibshirani 1993; Sakai, SIGIR 2006 for IR metrics): resample users
with replacement, recompute the mean per-user difference candidate - production, and read the
confidence interval from the percentiles. Pairing by user removes the large between-user
variance, so small real gains are detectable and noise is not mistaken for one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from mtrec.config import MetricRef, TaskConfig
from mtrec.evaluation.evaluate import task_metrics
from mtrec.evaluation.metrics import evaluate_ranking, pairs_by_row
from mtrec.models.serialization import TrainedModel


def aligned_scorer(
    trained: TrainedModel, user_ids: pd.Series, item_ids: pd.Series
) -> tuple[Callable[[torch.Tensor], torch.Tensor], np.ndarray]:
    """A ``score_users`` over the current indices, and the (U,) mask of current users the
    model knows. Items unknown to the model score ``-inf``."""
    model = trained.build()
    user_map = _index_map(trained.user_ids, user_ids)
    item_map = _index_map(trained.item_ids, item_ids)
    known_items = torch.from_numpy(item_map >= 0)
    columns = torch.from_numpy(np.maximum(item_map, 0))
    score_items = model.catalogue_scorer()

    def score(users: torch.Tensor) -> torch.Tensor:
        own = torch.from_numpy(user_map[users.numpy()])
        with torch.inference_mode():
            scores = score_items(own.clamp(min=0))[:, columns]  # (B, I_current)
        return scores.masked_fill(~known_items, -torch.inf)

    return score, user_map >= 0


def per_user_metric(
    score: Callable[[torch.Tensor], torch.Tensor],
    n_items: int,
    truth: pd.DataFrame,
    history: pd.DataFrame,
    metric: str,
) -> pd.Series:
    """Per-user ``metric`` (e.g. ``ndcg@10``) indexed by user index, full ranking with the
    history masked."""
    k = MetricRef.parse(metric).k
    if k is None:
        raise ValueError(f"{metric!r} is not a ranking metric at K: no per-user values")
    _, detail, _ = evaluate_ranking(
        score,
        n_items,
        truth["user_idx"].to_numpy(np.int64),
        truth["item_idx"].to_numpy(np.int64),
        history["user_idx"].to_numpy(np.int64),
        history["item_idx"].to_numpy(np.int64),
        (k,),
    )
    return pd.Series(detail[metric], index=detail["users"])


@dataclass(frozen=True)
class BootstrapResult:
    users: int
    candidate: float
    production: float
    mean_difference: float
    low: float
    high: float
    confidence: float
    samples: int

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def paired_bootstrap(
    candidate: np.ndarray,
    production: np.ndarray,
    samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapResult:
    """Percentile interval of the mean paired difference ``candidate - production``."""
    candidate, production = np.asarray(candidate, float), np.asarray(production, float)
    if candidate.shape != production.shape or len(candidate) == 0:
        raise ValueError("paired bootstrap needs two equal, non-empty per-user arrays")
    difference = candidate - production
    rng = np.random.default_rng(seed)
    means = np.empty(samples)
    for start in range(0, samples, 256):  # (256, n) index blocks keep memory flat
        stop = min(start + 256, samples)
        draws = rng.integers(0, len(difference), size=(stop - start, len(difference)))
        means[start:stop] = difference[draws].mean(axis=1)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return BootstrapResult(
        users=len(difference),
        candidate=float(candidate.mean()),
        production=float(production.mean()),
        mean_difference=float(difference.mean()),
        low=float(low),
        high=float(high),
        confidence=confidence,
        samples=samples,
    )


def _on_shared_users(
    candidate: TrainedModel,
    production: TrainedModel,
    truth: pd.DataFrame,
    users: pd.DataFrame,
    items: pd.DataFrame,
) -> tuple[
    Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor], pd.DataFrame
]:
    """Both models' scorers over the current indices, and the ``truth`` rows of the users
    production knows (the candidate, trained on the current data, knows them all)."""
    candidate_score, _ = aligned_scorer(candidate, users["user_id"], items["item_id"])
    production_score, known = aligned_scorer(production, users["user_id"], items["item_id"])
    shared = truth[known[truth["user_idx"].to_numpy(np.int64)]]
    if shared.empty:
        raise ValueError("production knows none of the evaluated users: nothing to compare on")
    return candidate_score, production_score, shared


def head_to_head(
    candidate: TrainedModel,
    production: TrainedModel,
    truth: pd.DataFrame,
    history: pd.DataFrame,
    users: pd.DataFrame,
    items: pd.DataFrame,
    metric: str,
    samples: int,
    confidence: float,
    seed: int = 0,
) -> tuple[BootstrapResult, dict[str, float]]:
    """Both models on ``truth`` (current indices), on the users both know: the paired bootstrap
    of ``metric`` and the prediction drift between their recommendations."""
    n_items = len(items)
    candidate_score, production_score, shared = _on_shared_users(
        candidate, production, truth, users, items
    )
    a = per_user_metric(candidate_score, n_items, shared, history, metric)
    b = per_user_metric(production_score, n_items, shared, history, metric)
    result = paired_bootstrap(
        a.to_numpy(), b.reindex(a.index).to_numpy(), samples, confidence, seed
    )
    drift = prediction_drift(
        candidate_score, production_score, a.index.to_numpy(np.int64), history, n_items
    )
    return result, drift


def prediction_drift(
    candidate: Callable[[torch.Tensor], torch.Tensor],
    production: Callable[[torch.Tensor], torch.Tensor],
    users: np.ndarray,
    history: pd.DataFrame,
    n_items: int,
    k: int = 10,
) -> dict[str, float]:
    """How much the candidate's recommendations differ from production's for the same users:
    mean overlap of the top-``k`` lists (share of items in both), share of users whose first
    item changed, and the Kolmogorov-Smirnov distance between the two models' distributions of
    per-user score z-values of their own top ``k`` (how peaked each model's lists are; raw
    scores of two networks are on different scales, so they are compared standardised)."""
    position = np.full(max(int(users.max(initial=-1)) + 1, 1), -1, dtype=np.int64)
    position[users] = np.arange(len(users))
    history_users = history["user_idx"].to_numpy(np.int64)
    known = history_users < len(position)
    seen_rows, seen_items = pairs_by_row(
        np.where(known, position[np.minimum(history_users, len(position) - 1)], -1),
        history["item_idx"].to_numpy(np.int64),
    )
    width = min(k, n_items)
    # Filled in place: small per-batch arrays kept between the batches' (B, I) score matrices
    # fragment the heap (see mtrec.evaluation.diversity.TopCandidates).
    overlap = np.zeros(len(users))
    first_changed = np.zeros(len(users), dtype=bool)
    za, zb = np.zeros((len(users), width)), np.zeros((len(users), width))
    for start in range(0, len(users), 256):
        stop = min(start + 256, len(users))
        batch = torch.from_numpy(users[start:stop])
        first, last = np.searchsorted(seen_rows, (start, stop))
        lists = []
        for score, z_values in ((candidate, za), (production, zb)):
            with torch.inference_mode():
                raw = score(batch)
            s = raw.float().clone()  # a normal tensor, so masking in place is allowed
            s[seen_rows[first:last] - start, seen_items[first:last]] = -torch.inf
            top = torch.topk(s, width, dim=1)
            finite = torch.where(torch.isfinite(s), s, torch.nan)
            mean = torch.nanmean(finite, dim=1, keepdim=True)
            std = torch.sqrt(torch.nanmean((finite - mean) ** 2, dim=1, keepdim=True)) + 1e-9
            z_values[start:stop] = ((top.values - mean) / std).numpy()
            lists.append(top.indices.numpy())
        a, b = lists
        overlap[start:stop] = (a[:, :, None] == b[:, None, :]).any(axis=2).mean(axis=1)
        first_changed[start:stop] = a[:, 0] != b[:, 0]
    z_candidate, z_production = za[np.isfinite(za)], zb[np.isfinite(zb)]  # flat
    from scipy.stats import ks_2samp

    return {
        "users": int(len(users)),
        f"top{k}_overlap": float(overlap.mean()) if len(users) else 0.0,
        "first_item_changed": float(first_changed.mean()) if len(users) else 0.0,
        "top_score_ks": (
            float(ks_2samp(z_candidate, z_production).statistic)
            if len(z_candidate) and len(z_production)
            else float("nan")
        ),
    }


def same_data_metrics(
    candidate: TrainedModel,
    production: TrainedModel,
    truth: pd.DataFrame,
    history: pd.DataFrame,
    users: pd.DataFrame,
    items: pd.DataFrame,
    ks: tuple[int, ...],
    tasks: Mapping[str, TaskConfig],
    seed: int = 0,
) -> dict[str, Any]:
    """Both models' ranking metrics at ``ks`` on the users production knows, and their task
    metrics (AUC, RMSE) on the ``truth`` pairs production knows both ids of: the headline and
    the secondary gate checks compare them on the same data, never on each model's own test.

    ``truth``/``history`` are in the current (candidate's) indices; production's pairs are
    translated into its own."""
    n_items = len(items)
    candidate_score, production_score, shared = _on_shared_users(
        candidate, production, truth, users, items
    )
    result: dict[str, Any] = {"users": int(shared["user_idx"].nunique())}
    for name, score in (("candidate", candidate_score), ("production", production_score)):
        result[name], _, _ = evaluate_ranking(
            score,
            n_items,
            shared["user_idx"].to_numpy(np.int64),
            shared["item_idx"].to_numpy(np.int64),
            history["user_idx"].to_numpy(np.int64),
            history["item_idx"].to_numpy(np.int64),
            ks,
        )
    own_user = _index_map(production.user_ids, users["user_id"])
    own_item = _index_map(production.item_ids, items["item_id"])

    def translated(frame: pd.DataFrame) -> pd.DataFrame:
        mapped = frame.assign(
            user_idx=own_user[frame["user_idx"].to_numpy(np.int64)],
            item_idx=own_item[frame["item_idx"].to_numpy(np.int64)],
        )
        return mapped[(mapped["user_idx"] >= 0) & (mapped["item_idx"] >= 0)]

    pairs = translated(shared)
    result["pairs"] = len(pairs)
    if len(pairs):
        # The candidate on exactly the pairs production is scored on (its own indices).
        kept = shared.loc[pairs.index]
        result["candidate"] |= task_metrics(candidate.build(), kept, history, tasks, seed)
        result["production"] |= task_metrics(
            production.build(), pairs, translated(history), tasks, seed
        )
    return result


def not_trained_on(truth: pd.DataFrame, *trained_on: pd.DataFrame) -> pd.DataFrame:
    """The ``truth`` rows whose (user_id, item_id) pair is in none of the ``trained_on``
    frames: the gate scores each model only on interactions it never learned from. The
    candidate's evaluated model never saw its own valid split, but production's was trained
    on its own run's train split, which may hold this run's valid pairs (a random-order split,
    or data that was rewritten); refit models, which saw everything, are never gate inputs."""
    if not trained_on:
        return truth
    keys = pd.concat([frame[["user_id", "item_id"]] for frame in trained_on], ignore_index=True)
    seen = pd.MultiIndex.from_frame(keys.astype(str))
    pairs = pd.MultiIndex.from_frame(truth[["user_id", "item_id"]].astype(str))
    return truth[~pairs.isin(seen)]


def _index_map(own_ids: tuple[str, ...] | list[str], current_ids: pd.Series) -> np.ndarray:
    """current index -> the model's own index, -1 where it does not know the id."""
    own = {str(i): n for n, i in enumerate(own_ids)}
    return np.array([own.get(str(i), -1) for i in current_ids], dtype=np.int64)
