"""Evaluation of a trained multi-task model and of baselines on the same split.

Ranking: every item of the catalogue is scored for each user with ground truth; items the user
had in the history (train for validation; train and valid for test) are excluded. Task metrics
on test, one per declared task: the ranking task's AUC (test interactions against one sampled
unseen item each), a binary task's AUC among test interactions (``like``) and a regression
task's RMSE (``rating``; ``influence`` against the value measured on history plus test).
Event tasks (``event:<stage>`` labels) also rank the catalogue against the test interactions
that reached their stage (``purchase_ndcg@10``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from mtrec.config import (
    EvaluationConfig,
    InterestsConfig,
    MetricRef,
    RerankConfig,
    TaskConfig,
    entire_space_tasks,
    event_stage,
)
from mtrec.data.labels import held_out_edges, influence_scores, interaction_labels
from mtrec.data.negatives import sample_negatives
from mtrec.data.prepare import history_columns
from mtrec.evaluation.baselines import BASELINES as BASELINES  # re-exported for callers
from mtrec.evaluation.baselines import (
    DEFAULT_PARAMS,
    BaselineSkipped,
    fit_baseline,
    tune_and_fit_baseline,
)
from mtrec.evaluation.beyond import beyond_accuracy, item_popularity_slices, user_activity_slices
from mtrec.evaluation.diversity import TopCandidates, rerank_tradeoff, tradeoff_width
from mtrec.evaluation.interests import (
    ForecastPeriod,
    LatentInterests,
    Topics,
    interest_forecast,
    latent_from_topic_scores,
    mean_kl,
)
from mtrec.evaluation.metrics import (
    auc,
    evaluate_ranking,
    rmse,
)
from mtrec.evaluation.results import (
    EVENT_RANKING_K,
    EVENT_RANKING_SUFFIX,
    BaselineTuning,
    ColdItemSlice,
    EvaluationResult,
    InterestMetrics,
    ItemItemMetrics,
    Metrics,
    ServingMetrics,
    SliceBucket,
    Slices,
    TopUser,
)
from mtrec.models.base import MultiTaskRecommender


@dataclass(frozen=True)
class EvaluationData:
    """What a model is evaluated on: the splits and the id frames (``users``, ``items``: index
    to original id), with the inputs some metrics need: ``edges`` (link tasks),
    ``item_embeddings`` (beyond-accuracy diversity, re-ranking) and ``topics`` (re-ranking,
    the interest task)."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame
    edges: pd.DataFrame | None = None
    item_embeddings: np.ndarray | None = None
    topics: Topics | None = None


@dataclass
class ServingView:
    """Asks :func:`evaluate_recommender` for the serving view: ``model`` refit on train +
    valid (``None``: the evaluated model, not refit, reading train + valid as history);
    ``recommendations`` is filled with its top-K test lists."""

    model: MultiTaskRecommender | None = None
    recommendations: pd.DataFrame | None = None


@dataclass(frozen=True)
class RankingResult:
    metrics: dict[str, float]
    per_user: dict[str, np.ndarray]
    top_items: np.ndarray | None
    """(U, K) top item indices for ``per_user['users']``, when requested."""


def _idx(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].to_numpy(np.int64)


def rank_split(
    score_users: object,
    n_items: int,
    truth: pd.DataFrame,
    history: pd.DataFrame,
    ks: tuple[int, ...],
    keep_top: int = 0,
    on_scores: Callable[[torch.Tensor], None] | None = None,
) -> RankingResult:
    """Full-ranking metrics for ``truth`` with ``history`` items masked (``on_scores``: see
    :func:`mtrec.evaluation.metrics.evaluate_ranking`)."""
    assert callable(score_users)
    means, detail, top = evaluate_ranking(
        score_users,
        n_items,
        _idx(truth, "user_idx"),
        _idx(truth, "item_idx"),
        _idx(history, "user_idx"),
        _idx(history, "item_idx"),
        ks,
        keep_top=keep_top,
        on_scores=on_scores,
    )
    return RankingResult(metrics=means, per_user=detail, top_items=top)


def model_ranking(
    model: MultiTaskRecommender,
    truth: pd.DataFrame,
    history: pd.DataFrame,
    ks: tuple[int, ...],
    keep_top: int = 0,
    on_scores: Callable[[torch.Tensor], None] | None = None,
) -> RankingResult:
    model.eval()
    scorer = model.catalogue_scorer()
    return rank_split(scorer, model.spec.n_items, truth, history, ks, keep_top, on_scores)


def popularity_ranking(
    train: pd.DataFrame,
    truth: pd.DataFrame,
    history: pd.DataFrame,
    n_items: int,
    ks: tuple[int, ...],
) -> RankingResult:
    scorer = build_baseline("popularity", train, 0, n_items)
    return rank_split(scorer, n_items, truth, history, ks)


def build_baseline(
    name: str, train: pd.DataFrame, n_users: int, n_items: int, seed: int = 0
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A baseline fitted on ``train`` with its default parameters (``DEFAULT_PARAMS``), as its
    ``score_items``: (B,) user indices -> (B, I) scores. Tuned parameters:
    :func:`mtrec.evaluation.baselines.tune_baseline`, then ``fit_baseline``. EASE raises
    ``BaselineSkipped`` above the default memory budget."""
    return fit_baseline(name, DEFAULT_PARAMS.get(name, {}), train, n_users, n_items, seed)


def task_metrics(
    model: MultiTaskRecommender,
    test: pd.DataFrame,
    history: pd.DataFrame,
    tasks: Mapping[str, TaskConfig],
    seed: int = 0,
) -> dict[str, float]:
    """``<task>_auc``, ``<task>_rmse`` or ``<task>_kl`` for every declared task on the ``test``
    rows; an interest task's KL compares each test user's topic shares over ``test`` with the
    shares the model predicts from its known history. A funnel task after the ranking task is
    scored in its entire space: the test interactions (labelled by stage) and the ranking
    task's sampled negatives (labelled 0); other funnel and binary tasks among the test
    interactions."""
    model.eval()
    entire_space = entire_space_tasks(tasks)
    n_items = model.spec.n_items
    users, items = _idx(test, "user_idx"), _idx(test, "item_idx")
    if len(users) == 0:
        return {}
    known = np.concatenate([_idx(history, "user_idx"), users]) * n_items + np.concatenate(
        [_idx(history, "item_idx"), items]
    )
    known = np.unique(known)
    _, negatives = sample_negatives(users, n_items, known, 1, np.random.default_rng(seed))
    with torch.inference_mode():
        pos = model({"user": torch.from_numpy(users), "item": torch.from_numpy(items)})
        neg = model({"user": torch.from_numpy(users), "item": torch.from_numpy(negatives)})
    pair_labels = interaction_labels(
        test, {n: t for n, t in tasks.items() if not t.user_level}, model.spec.n_users
    )
    user_level = {n: t for n, t in tasks.items() if t.user_level and t.kind != "interest"}
    if user_level:
        everything = pd.concat([history, test], ignore_index=True)
        pair_labels |= interaction_labels(everything, user_level, model.spec.n_users)
        pair_labels = {
            n: v[len(history) :] if n in user_level else v for n, v in pair_labels.items()
        }
    result: dict[str, float] = {}
    for name, task in tasks.items():
        if name not in pos:
            continue
        if task.kind == "interest":
            result[f"{name}_kl"] = interest_kl(model, test, name)
        elif task.kind == "ranking":
            labels = np.r_[np.ones(len(users)), np.zeros(len(users))]
            result[f"{name}_auc"] = auc(labels, np.r_[pos[name].numpy(), neg[name].numpy()])
        elif name in entire_space:  # the space it learns: test rows and sampled negatives
            labels = np.r_[pair_labels[name], np.zeros(len(users))].astype(int)
            result[f"{name}_auc"] = auc(labels, np.r_[pos[name].numpy(), neg[name].numpy()])
        elif task.kind in ("binary", "funnel"):
            result[f"{name}_auc"] = auc(pair_labels[name].astype(int), pos[name].numpy())
        elif task.user_level:
            # One value per user, not per interaction: each test user counts once.
            _, first = np.unique(users, return_index=True)
            result[f"{name}_rmse"] = rmse(pair_labels[name][first], pos[name].numpy()[first])
        else:
            result[f"{name}_rmse"] = rmse(pair_labels[name], pos[name].numpy())
    return result


def event_ranking_metrics(
    model: MultiTaskRecommender,
    test: pd.DataFrame,
    history: pd.DataFrame,
    tasks: Mapping[str, TaskConfig],
) -> dict[str, float]:
    """``<task>_ndcg@10`` of every event task (label ``event:<stage>``): the catalogue ranked
    for each user by the task's output (a funnel task's: p(after) * p(task | after); a binary
    task's: its head alone, p(stage | observed)), ``history`` items masked, against the user's
    test interactions that reached the stage (the test purchases, not the clicks)."""
    result: dict[str, float] = {}
    model.eval()
    for name, task in tasks.items():
        stage = event_stage(task.label)
        if stage is None or name not in model.spec.tasks or task.label not in test.columns:
            continue
        truth = test[test[task.label].to_numpy() > 0]
        if truth.empty:
            continue
        ranking = rank_split(
            model.catalogue_scorer(name), model.spec.n_items, truth, history, (EVENT_RANKING_K,)
        )
        result[event_ranking_metric(name)] = ranking.metrics[f"ndcg@{EVENT_RANKING_K}"]
    return result


def event_ranking_metric(task: str) -> str:
    """The metrics key of an event task's ranking quality: ``purchase_ndcg@10``."""
    return f"{task}{EVENT_RANKING_SUFFIX}"


def period_topic_counts(
    model: MultiTaskRecommender, period: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """The users of ``period`` (ascending) and their (U, T) counts of its interactions by the
    model's item topics: what an interest forecast of the period is scored against."""
    users, inverse = np.unique(_idx(period, "user_idx"), return_inverse=True)
    counts = np.zeros((len(users), model.spec.n_topics))
    np.add.at(counts, (inverse, model.item_topic.numpy()[_idx(period, "item_idx")]), 1.0)
    return users, counts


def interest_kl(model: MultiTaskRecommender, period: pd.DataFrame, task: str) -> float:
    """Mean KL(topic shares of each user's ``period`` interactions || the shares ``task``
    predicts from the model's known history), in nats, over the period's users."""
    users, target = period_topic_counts(model, period)
    target /= target.sum(axis=1, keepdims=True)
    model.eval()
    with torch.inference_mode():
        predicted = model.interest_shares(torch.from_numpy(users), task).double().numpy()
    return mean_kl(target, predicted)


def forecast_interests(
    model: MultiTaskRecommender,
    serving_model: MultiTaskRecommender | None,
    refit: bool,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    topics: Topics,
    recent_n: int,
    recent_days: float | None = None,
) -> InterestMetrics:
    """The interest task's test KL against the whole- and recent-history baselines, in the
    serving view: every predictor reads train + valid and forecasts the test period
    (``serving_model``: the model that reads train + valid, a refit on it when ``refit``;
    ``None``: the evaluated model, reading train + valid); each one's smoothing is chosen on
    the valid period, forecast from train by the evaluated ``model``. A forecast from train
    alone would skip the valid period: test is not the period next to what it reads."""
    if not np.array_equal(topics.assignment, model.item_topic.numpy()) or (
        topics.n_topics < model.spec.n_topics
    ):
        raise ValueError("the topics given are not the ones the interest task learned")
    n_users = model.spec.n_users
    history = pd.concat([train, valid], ignore_index=True)
    if serving_model is None:
        serving_model = model.reading(*history_columns(history))
    k = topics.n_topics
    tuning = ForecastPeriod(train, valid, model_interest_shares(model, n_users, k))
    scored = ForecastPeriod(history, test, model_interest_shares(serving_model, n_users, k))
    forecast = interest_forecast(topics, n_users, recent_n, recent_days, tuning, scored)
    return InterestMetrics(
        kl=forecast.kl,
        smoothing=forecast.smoothing,
        users=forecast.users,
        best_baseline=forecast.best_baseline,
        reduction=forecast.reduction,
        task=model.spec.interest_tasks[0],
        refit=refit,
        blend=dataclasses.asdict(serving_model.spec.interest_blend),
    )


def model_latent_interests(
    model: MultiTaskRecommender, topics: Topics, batch: int = 1024
) -> LatentInterests:
    """Each user's latent interests: the ranking scores of every item, reading the user's
    known history, averaged over each topic's items (for the dot head, the user vector
    against the topic's mean item vector), softmaxed over topics."""
    n_users = model.spec.n_users
    membership = torch.from_numpy(topics.shares_matrix() / np.maximum(topics.sizes, 1)).float()
    scores = np.empty((n_users, topics.n_topics))
    with torch.inference_mode():
        scorer = model.eval().mean_scorer(membership)
        for start in range(0, n_users, batch):
            users = torch.arange(start, min(start + batch, n_users))
            scores[start : start + len(users)] = scorer(users).double().numpy()
    return latent_from_topic_scores(scores, topics.sizes)


def model_interest_shares(
    model: MultiTaskRecommender, n_users: int, n_topics: int | None = None, batch: int = 4096
) -> np.ndarray:
    """(U, T) next-period topic shares the model's first interest task predicts for every
    user, reading each user's known history. ``n_topics`` pads the columns with zeros up to
    that many topics: the model knows topics up to the last one holding an item, a
    :class:`Topics` may count empty ones after it."""
    width = model.spec.n_topics if n_topics is None else n_topics
    if width < model.spec.n_topics:
        raise ValueError(f"{width} topics for a model predicting {model.spec.n_topics}")
    model.eval()
    out = np.zeros((n_users, width))
    with torch.inference_mode():
        for start in range(0, n_users, batch):
            users = torch.arange(start, min(start + batch, n_users))
            shares = model.interest_shares(users).double().numpy()
            out[start : start + len(users), : shares.shape[1]] = shares
    return out


def link_metrics(
    model: MultiTaskRecommender,
    edges: pd.DataFrame | None,
    tasks: Mapping[str, TaskConfig],
    seed: int = 0,
) -> dict[str, float]:
    """``<task>_auc`` of each link task: held-out edges against as many sampled user pairs
    that are not edges (the training never saw the held-out ones, as input or as label)."""
    links = [name for name, task in tasks.items() if task.kind == "link"]
    if not links or edges is None or edges.empty:
        return {}
    held = edges[held_out_edges(edges)]
    if held.empty:
        return {}
    n_users = model.spec.n_users
    a, b = _idx(held, "user_idx"), _idx(held, "friend_idx")
    known = np.unique(_idx(edges, "user_idx") * n_users + _idx(edges, "friend_idx"))
    _, negatives = sample_negatives(a, n_users, known, 1, np.random.default_rng(seed))
    batch = {
        "user": torch.zeros(1, dtype=torch.long),
        "item": torch.zeros(1, dtype=torch.long),
        "link_user": torch.from_numpy(np.concatenate([a, a])),
        "link_friend": torch.from_numpy(np.concatenate([b, negatives])),
    }
    model.eval()
    with torch.inference_mode():
        out = model(batch)
    labels = np.r_[np.ones(len(a)), np.zeros(len(a))]
    return {f"{name}_auc": auc(labels, out[name].numpy()) for name in links if name in out}


def recommendations_frame(
    users: np.ndarray, top_items: np.ndarray, user_ids: pd.Series, item_ids: pd.Series
) -> pd.DataFrame:
    """``user_id,item_id,rank`` rows (original ids, rank from 1) for a top-K matrix."""
    n_users, k = top_items.shape
    return pd.DataFrame(
        {
            "user_id": user_ids.to_numpy()[np.repeat(users, k)],
            "item_id": item_ids.to_numpy()[top_items.reshape(-1)],
            "rank": np.tile(np.arange(1, k + 1), n_users),
        }
    )


def evaluate_recommender(
    model: MultiTaskRecommender,
    data: EvaluationData,
    tasks: Mapping[str, TaskConfig],
    config: EvaluationConfig,
    *,
    seed: int = 0,
    serving: ServingView | None = None,
    rerank: RerankConfig | None = None,
    interests: InterestsConfig | None = None,
) -> tuple[EvaluationResult, pd.DataFrame]:
    """Metrics for the model and the baselines, and the model's test top-K lists.

    The RecBole view: ``model`` was trained on train (its history input reads train), test
    is ranked with train and valid masked. ``config`` gives the cut-offs, the list length, the
    cold-item slice and the baselines (popularity always among them). Each baseline's
    parameters are chosen on valid (:mod:`mtrec.evaluation.baselines`) and it is fitted on
    train. With ``serving``, the same baselines are refit on train + valid and scored beside
    the serving-view model (:func:`serving_view`).

    Returns the :class:`EvaluationResult` and a ``user_id,item_id,rank`` frame with original
    ids (and, with ``serving``, the serving view's frame in ``serving.recommendations`` after
    the call).

    With ``rerank`` (which needs ``data.item_embeddings`` and ``data.topics``), the result's
    ``rerank`` holds the diversity trade-off of
    :func:`mtrec.evaluation.diversity.rerank_tradeoff` and the returned test lists are its
    ``final_lists`` with ``rerank``'s method and lambda (method ``none``: the same lists as
    without ``rerank``). The serving view's lists stay top-K.
    """
    train, valid, test, users, items = data.train, data.valid, data.test, data.users, data.items
    item_embeddings, topics, edges = data.item_embeddings, data.topics, data.edges
    ks, recommendations_k = config.ks, config.recommendations_k
    interests = interests or InterestsConfig()
    n_users = len(users)
    if rerank is not None and (item_embeddings is None or topics is None):
        raise ValueError("rerank needs item_embeddings and topics (mmr, dpp, calibration KL)")
    history = pd.concat([train, valid], ignore_index=True)
    n_items = model.spec.n_items
    # Validation always includes NDCG@10: early stopping and promotion read it.
    valid_rank = model_ranking(model, valid, train, tuple(sorted({*ks, 10})))
    # Slices and beyond-accuracy metrics read NDCG@10 and the top-10 lists, whatever ks are.
    # The re-ranking trade-off reads the test ranking's best-scored items, not a new scoring.
    tops = None
    if rerank is not None:
        tops = TopCandidates(tradeoff_width(rerank, recommendations_k), test["user_idx"].nunique())
    test_rank = model_ranking(
        model,
        test,
        history,
        tuple(sorted({*ks, 10})),
        keep_top=max(recommendations_k, 10),
        on_scores=tops,
    )
    reported = {k: v for k, v in test_rank.metrics.items() if MetricRef.parse(k).k in ks}
    item_item = None
    if (choice := model.spec.item_item) is not None:
        network = model.catalogue_scorer(item_item=False)
        item_item = ItemItemMetrics(
            **dataclasses.asdict(choice),
            network_test=rank_split(network, n_items, test, history, ks).metrics,
        )
    baseline_metrics: dict[str, Metrics] = {}
    baseline_params: dict[str, BaselineTuning] = {}
    skipped: dict[str, str] = {}
    baselines_valid: dict[str, Metrics] = {}
    refit_scorers: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
    for name in dict.fromkeys(["popularity", *config.baselines]):
        n = n_users
        try:
            tuned, scorer = tune_and_fit_baseline(
                name, train, valid, n, n_items, seed, config.baseline_max_memory_mb
            )
            if serving is not None:
                refit_scorers[name] = fit_baseline(
                    name, tuned.params, history, n, n_items, seed, config.baseline_max_memory_mb
                )
        except BaselineSkipped as skip:
            skipped[name] = skip.reason
            continue
        baseline_metrics[name] = rank_split(scorer, n_items, test, history, ks).metrics
        baseline_params[name] = BaselineTuning.model_validate(tuned.to_dict())
        if name == "popularity":  # the promotion floor: valid, ranked as the model's valid is
            baselines_valid[name] = rank_split(
                scorer, n_items, valid, train, tuple(sorted({*ks, 10}))
            ).metrics
    test_metrics = {**reported, **task_metrics(model, test, history, tasks, seed)}
    test_metrics |= event_ranking_metrics(model, test, history, tasks)
    test_metrics |= link_metrics(model, edges, tasks, seed)
    assert test_rank.top_items is not None
    recommendations = recommendations_frame(
        test_rank.per_user["users"],
        test_rank.top_items[:, :recommendations_k],
        users["user_id"],
        items["item_id"],
    )
    train_counts = np.bincount(_idx(train, "item_idx"), minlength=n_items)
    top10 = test_rank.top_items[:, :10]
    test_users = test_rank.per_user["users"]
    slices = Slices(
        cold_items=cold_item_slice(model, train, test, history, ks, config.cold_item_max_train),
        user_activity=tuple(
            SliceBucket.model_validate(b) for b in user_activity_slices(test_rank.per_user, train)
        ),
        item_popularity=tuple(
            SliceBucket.model_validate(b)
            for b in item_popularity_slices(top10, test_users, test, train_counts)
        ),
    )
    tradeoff = None
    if rerank is not None:
        assert item_embeddings is not None and topics is not None
        tradeoff, reranked = rerank_tradeoff(
            model.catalogue_scorer(),
            n_items,
            test,
            history,
            train_counts,
            n_users,
            item_embeddings,
            topics,
            rerank,
            keep_top=recommendations_k,
            tops=tops,
        )
        assert reranked is not None
        recommendations = recommendations_frame(
            test_users, reranked, users["user_id"], items["item_id"]
        )
    serving_metrics, serving_model = None, None
    if serving is not None:
        serving_model = serving.model
        if serving_model is None:  # not refit: the evaluated model, reading train + valid
            serving_model = model.reading(*history_columns(history))
        serving_metrics, serving.recommendations = serving_view(
            serving_model,
            train,
            valid,
            test,
            users,
            items,
            ks,
            recommendations_k,
            refit_scorers,
            refit=serving.model is not None,
        )
    forecast = None
    if topics is not None and model.spec.interest_tasks:
        forecast = forecast_interests(
            model,
            serving_model,
            serving is not None and serving.model is not None,
            train,
            valid,
            test,
            topics,
            interests.recent_n,
            interests.recent_days,
        )
    user_level = {
        name: task for name, task in tasks.items() if task.user_level and task.kind != "interest"
    }
    result = EvaluationResult(
        beyond_accuracy=beyond_accuracy(top10, train_counts, n_users, item_embeddings),
        valid=valid_rank.metrics,
        test=test_metrics,
        baselines=baseline_metrics,
        baselines_valid=baselines_valid,
        baseline_params=baseline_params,
        slices=slices,
        baselines_skipped=skipped,
        rerank=tradeoff.to_dict() if tradeoff is not None else None,
        serving=serving_metrics,
        item_item=item_item,
        interest=forecast,
        top_users={
            name: top_users(model, train, users, name, task) for name, task in user_level.items()
        },
    )
    return result, recommendations


def serving_view(
    model: MultiTaskRecommender,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    users: pd.DataFrame,
    items: pd.DataFrame,
    ks: tuple[int, ...],
    recommendations_k: int,
    baseline_scorers: Mapping[str, Callable[[torch.Tensor], torch.Tensor]],
    *,
    refit: bool,
) -> tuple[ServingMetrics, pd.DataFrame]:
    """Test metrics as a deployed model gives them the day after the valid period: ``model``
    and every baseline in ``baseline_scorers`` were refit on train + valid, and each user's
    train + valid interactions are the known history (read by the model's history input,
    excluded from ranking). Nothing scored here was trained on: test is disjoint from both.
    ``refit``: whether ``model`` is a refit (else the evaluated model, reading train + valid).

    Returns the view's metrics and the model's top-K test lists."""
    history = pd.concat([train, valid], ignore_index=True)
    n_items = model.spec.n_items
    rank = model_ranking(model, test, history, ks, keep_top=recommendations_k)
    assert rank.top_items is not None
    recommendations = recommendations_frame(
        rank.per_user["users"], rank.top_items, users["user_id"], items["item_id"]
    )
    baselines = {
        name: rank_split(scorer, n_items, test, history, ks).metrics
        for name, scorer in baseline_scorers.items()
    }
    metrics = ServingMetrics(test=rank.metrics, baselines=baselines, refit=refit)
    return metrics, recommendations


def top_users(
    model: MultiTaskRecommender,
    train: pd.DataFrame,
    users: pd.DataFrame,
    name: str,
    task: TaskConfig,
    n: int = 10,
) -> tuple[TopUser, ...]:
    """The ``n`` users with the highest measured value of a user-level task in the training
    period, with the model's prediction and their interaction count."""
    n_users = model.spec.n_users
    measured = influence_scores(train, n_users, task.window_days)
    best = np.argsort(-measured, kind="stable")[:n]
    with torch.inference_mode():
        idx = torch.from_numpy(best.astype(np.int64))
        predicted = model({"user": idx, "item": torch.zeros_like(idx)})[name].numpy()
    counts = np.bincount(_idx(train, "user_idx"), minlength=n_users)
    return tuple(
        TopUser(
            user_id=str(users["user_id"].iloc[u]),
            measured=float(measured[u]),
            predicted=float(p),
            interactions=int(counts[u]),
        )
        for u, p in zip(best, predicted, strict=True)
    )


def cold_item_slice(
    model: MultiTaskRecommender,
    train: pd.DataFrame,
    test: pd.DataFrame,
    history: pd.DataFrame,
    ks: tuple[int, ...],
    max_train: int,
) -> ColdItemSlice:
    """Ranking metrics on test interactions whose item had at most ``max_train`` training
    interactions: the model against popularity, candidates and masking as for the main metrics.
    """
    n_items = model.spec.n_items
    train_counts = np.bincount(_idx(train, "item_idx"), minlength=n_items)
    cold = test[train_counts[_idx(test, "item_idx")] <= max_train]
    if not len(cold):
        return ColdItemSlice(max_train_interactions=max_train, interactions=0, users=0)
    return ColdItemSlice(
        max_train_interactions=max_train,
        interactions=len(cold),
        users=int(cold["user_idx"].nunique()),
        model=model_ranking(model, cold, history, ks).metrics,
        popularity=popularity_ranking(train, cold, history, n_items, ks).metrics,
    )
