"""Build a multi-task recommender from the config and train it on a split.

Early stopping reads validation metrics, computed with the evaluation module's functions.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import pandas as pd
import torch

from mtrec.config import MetricRef, ModelConfig, TrainingConfig
from mtrec.data.labels import interaction_labels, social_edges
from mtrec.data.prepare import history_columns
from mtrec.evaluation.evaluate import interest_kl, period_topic_counts, task_metrics
from mtrec.evaluation.interests import BLEND_TEMPERATURES, choose_blend
from mtrec.evaluation.metrics import evaluate_ranking
from mtrec.models.base import MultiTaskRecommender
from mtrec.models.item_item import (
    blend,
    item_item_memory_bytes,
    item_item_weights,
    known_matrix,
    search_by_turns,
)
from mtrec.models.networks import build_network
from mtrec.models.serialization import TrainedModel
from mtrec.models.spec import InterestBlend, ItemItemChoice, ModelSpec
from mtrec.training.concurrent import run_concurrently
from mtrec.training.trainer import TrainingResult, train_multitask
from mtrec.workflows.inputs import ModelInputs

logger = logging.getLogger(__name__)

BLEND_USERS = 10_000  # valid users an interest blend is chosen on: plenty for three numbers


def build_model(
    config: ModelConfig,
    train: pd.DataFrame,
    item_embeddings: np.ndarray,
    user_embeddings: np.ndarray,
    edges: pd.DataFrame | None = None,
    item_topics: np.ndarray | None = None,
) -> MultiTaskRecommender:
    """A fresh network sized for the catalogue; ids unseen in ``train`` get no id embedding
    and rarely seen items a shrunken one (``item_id_shrinkage``). ``item_topics`` (I,): each
    item's topic (``mtrec.evaluation.interests.Topics.assignment``), which an ``interest``
    task needs."""
    n_items, n_users = len(item_embeddings), len(user_embeddings)
    links = social_edges(edges, config.tasks)
    interest = tuple(name for name, task in config.tasks.items() if task.kind == "interest")
    if interest and item_topics is None:
        raise ValueError(f"interest tasks {list(interest)} need the item topics (item_topics)")
    topic = None if item_topics is None else torch.from_numpy(np.asarray(item_topics, np.int64))
    if topic is not None and len(topic) != n_items:
        raise ValueError(f"item_topics has {len(topic)} entries for {n_items} items")
    spec = ModelSpec(
        n_users=n_users,
        n_items=n_items,
        user_text_dim=int(user_embeddings.shape[1]),
        item_text_dim=int(item_embeddings.shape[1]),
        embedding_dim=config.embedding_dim,
        hidden_dims=tuple(config.hidden_dims),
        tower_dims=tuple(config.tower_dims),
        dropout=config.dropout,
        use_text=config.use_text,
        item_id_dropout=config.item_id_dropout,
        architecture=config.architecture,
        n_experts=config.n_experts,
        n_task_experts=config.n_task_experts,
        levels=config.levels,
        tasks=tuple(config.tasks),
        ranking_task=config.ranking_task,
        ranking_interaction=config.ranking_interaction,
        offsets={
            name: float(values.mean()) if len(values) else 0.0
            for name, values in interaction_labels(train, config.tasks, n_users).items()
            if config.tasks[name].kind == "regression"
        },
        user_tasks=tuple(name for name, task in config.tasks.items() if task.user_level),
        interest_tasks=interest,
        n_topics=int(topic.max()) + 1 if topic is not None and len(topic) else 0,
        link_tasks=tuple(name for name, task in config.tasks.items() if task.kind == "link"),
        n_friend_links=len(links),
        history_length=config.history_length,
        history_pooling=config.history_pooling,
        profile_length=config.profile_length,
        history_context="others" if config.history_context == "others" else "before",
        funnels={name: task.after for name, task in config.tasks.items() if task.after},
    )
    item_counts = np.bincount(train["item_idx"].to_numpy(np.int64), minlength=n_items)
    shrinkage = config.item_id_shrinkage if config.use_text else 0.0  # id-only: ids are all
    item_seen = item_counts / (item_counts + shrinkage) if shrinkage else item_counts > 0
    user_seen = np.bincount(train["user_idx"].to_numpy(np.int64), minlength=n_users) > 0
    model = build_network(
        spec,
        user_text=torch.from_numpy(np.ascontiguousarray(user_embeddings)),
        item_text=torch.from_numpy(np.ascontiguousarray(item_embeddings)),
        user_seen=torch.from_numpy(user_seen),
        item_seen=torch.from_numpy(item_seen),
        friends=torch.from_numpy(links[["user_idx", "friend_idx"]].to_numpy(np.int64)),
        item_topic=topic,
    )
    # What the model knows is what it trains on: scoring reads each user's training history.
    model.set_history(*history_columns(train))
    return model


def fit_recommender(
    train: pd.DataFrame,
    valid: pd.DataFrame | None,
    inputs: ModelInputs,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    label: str = "train",
    item_item: ItemItemChoice | None = None,
    start: TrainedModel | None = None,
) -> tuple[TrainedModel, TrainingResult]:
    """Train with early stopping on ``training_config.monitor``: validation ranking metrics
    (full ranking, train items masked) and task metrics. ``valid`` ``None``: no validation,
    every one of ``training_config.epochs`` epochs runs and the last is kept (a refit, see
    :func:`refit_recommender`). ``nproc > 1`` trains with that many ``torchrun`` processes
    (:mod:`mtrec.workflows.distributed`). ``label`` starts each epoch's progress line.
    The item-item component (``model_config.item_item``) is chosen on ``valid`` after
    training (:func:`choose_item_item`); without ``valid``, ``item_item`` is used as given
    (a refit reuses the evaluated model's choice) and fitted on ``train``. ``start``: a
    trained model of the same configuration and catalogue whose network weights training
    starts from instead of a fresh initialisation."""
    if training_config.nproc > 1:
        from mtrec.workflows.distributed import fit_distributed

        trained, result = fit_distributed(
            train, valid, inputs, model_config, training_config, label=label, start=start
        )
    else:
        trained, result = fit_network(
            train, valid, inputs, model_config, training_config, label, start
        )
    if valid is not None:
        chosen = choose_item_item(trained, train, valid, inputs, model_config, training_config)
        trained = trained if chosen is None else with_item_item(trained, *chosen)
        if trained.spec.interest_tasks and len(valid):
            blend = choose_interest_blend(trained, valid, training_config.seed)
            trained = with_interest_blend(trained, blend)
        return trained, result
    if item_item is None:
        return trained, result
    weights = fit_item_item(train, inputs, item_item, trained)
    return with_item_item(trained, item_item, weights), result


def fit_network(
    train: pd.DataFrame,
    valid: pd.DataFrame | None,
    inputs: ModelInputs,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    label: str = "train",
    start: TrainedModel | None = None,
) -> tuple[TrainedModel, TrainingResult]:
    """The network alone, trained in this process (:func:`fit_recommender` without the
    item-item component; a distributed rank runs it)."""
    torch.manual_seed(training_config.seed)
    model = build_model(
        model_config,
        train,
        inputs.item_embeddings,
        inputs.user_embeddings,
        inputs.edges,
        inputs.item_topics,
    )
    if start is not None:
        load_parameters(model, start)
    validate = None if valid is None else _validator(train, valid, model_config, training_config)
    result = train_multitask(model, train, model_config.tasks, training_config, validate, label)
    trained = TrainedModel(
        spec=model.spec,
        state_dict=result.state_dict,
        user_ids=tuple(str(u) for u in inputs.user_ids),
        item_ids=tuple(str(i) for i in inputs.item_ids),
    )
    return trained, result


def load_parameters(model: MultiTaskRecommender, start: TrainedModel) -> None:
    """Copy ``start``'s trained parameters into ``model``. Only parameters: the buffers
    (which interactions are known, which ids were seen, the item-item weights) are
    ``model``'s, built from the data it is about to train on."""
    names = [name for name, _ in model.named_parameters()]
    unfit = "the start model does not fit this configuration and catalogue"
    missing = [name for name in names if name not in start.state_dict]
    if missing:
        raise ValueError(f"{unfit}: it lacks {missing[:5]}")
    try:  # strict=False leaves the buffers alone; torch still refuses other shapes
        model.load_state_dict({name: start.state_dict[name] for name in names}, strict=False)
    except RuntimeError as error:
        raise ValueError(f"{unfit}: {error}") from error


def _validator(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    model_config: ModelConfig,
    training_config: TrainingConfig,
) -> Callable[[MultiTaskRecommender], dict[str, float]]:
    """Validation metrics of a network: what early stopping reads."""
    truth_u, truth_i = valid["user_idx"].to_numpy(np.int64), valid["item_idx"].to_numpy(np.int64)
    seen_u, seen_i = train["user_idx"].to_numpy(np.int64), train["item_idx"].to_numpy(np.int64)
    monitor = MetricRef.parse(training_config.monitor)
    needs_tasks = not monitor.ranking
    ks = (10,) if needs_tasks or monitor.k is None else tuple(sorted({10, monitor.k}))
    interest = [name for name, task in model_config.tasks.items() if task.kind == "interest"]

    def validate(network: MultiTaskRecommender) -> dict[str, float]:
        means, _, _ = evaluate_ranking(
            network.catalogue_scorer(), network.spec.n_items, truth_u, truth_i, seen_u, seen_i, ks
        )
        if needs_tasks:
            means |= task_metrics(network, valid, train, model_config.tasks, training_config.seed)
        elif interest:  # one forward per valid user: cheap, and the curve is worth seeing
            means |= {f"{name}_kl": interest_kl(network, valid, name) for name in interest}
        return means

    return validate


def refit_recommender(
    interactions: pd.DataFrame,
    inputs: ModelInputs,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    epochs: int,
    item_item: ItemItemChoice | None = None,
    start: TrainedModel | None = None,
) -> tuple[TrainedModel, TrainingResult]:
    """The model trained on ``interactions`` with no validation data: the model that knows
    every interaction it is given, newest included. ``training_config.refit_from``
    ``trained``: ``start`` (the evaluated model) trained on for ``refit_epochs`` epochs at
    ``refit_learning_rate``; ``scratch``: the same configuration from a fresh network for
    exactly ``epochs`` epochs (the best epoch that early stopping chose on valid).
    ``item_item``: the evaluated model's component (``TrainedModel.spec.item_item``),
    refitted on ``interactions``. The refit's interest forecast reads the ranking task as
    ``start``'s does (:class:`InterestBlend`, chosen on valid)."""
    blend = None if start is None else start.spec.interest_blend
    if training_config.refit_from == "trained":
        if start is None:
            raise ValueError("refit_from 'trained' continues the evaluated model: pass start")
        update = {
            "epochs": training_config.refit_epochs,
            "learning_rate": training_config.refit_learning_rate,
        }
    else:
        start, update = None, {"epochs": max(1, int(epochs))}
    config = training_config.model_copy(update=update)
    label = f"refit on {len(interactions):,} interactions"
    trained, result = fit_recommender(
        interactions, None, inputs, model_config, config, label, item_item, start
    )
    if blend is not None and trained.spec.interest_tasks:
        trained = with_interest_blend(trained, blend)
    return trained, result


def refit_recommenders(
    datasets: Sequence[pd.DataFrame],
    inputs: ModelInputs,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    epochs: int,
    item_item: ItemItemChoice | None = None,
    start: TrainedModel | None = None,
) -> list[tuple[TrainedModel, TrainingResult]]:
    """:func:`refit_recommender` on each of ``datasets``, side by side on the available cores
    (:func:`mtrec.training.concurrent.run_concurrently`); in turn under ``nproc > 1``, where
    each refit already spreads over processes of its own."""
    calls = [
        partial(
            refit_recommender,
            interactions,
            inputs,
            model_config,
            training_config,
            epochs,
            item_item,
            start,
        )
        for interactions in datasets
    ]
    return run_concurrently(calls, cores=training_cores(training_config))


def training_cores(config: TrainingConfig) -> int | None:
    """Cores independent trainings may share side by side: all available (``None``), or one
    under ``nproc > 1``, where each training already spreads over processes of its own and
    trainings run in turn."""
    return 1 if config.nproc > 1 else None


def choose_item_item(
    trained: TrainedModel,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    inputs: ModelInputs,
    model_config: ModelConfig,
    training_config: TrainingConfig,
) -> tuple[ItemItemChoice, torch.Tensor] | None:
    """The item-item component chosen on valid (full ranking, train masked, the training
    monitor's ranking metric or NDCG@10): ``l2`` and ``text_weight`` by the component alone
    (searched by turns, :func:`mtrec.models.item_item.search_by_turns`), then at that pair
    ``network_weight`` (the kernel of this network's item vectors), then its blend ``weight``
    with the trained network; with its weights, fitted on train.
    ``None`` when disabled, over the memory budget, or when valid prefers the network alone
    (weight 0)."""
    config = model_config.item_item
    n_users, n_items = len(inputs.user_embeddings), len(inputs.item_embeddings)
    need = item_item_memory_bytes(n_items)
    if not config.enabled:
        return None
    if need > config.max_memory_mb * 2**20:
        logger.info(
            "item-item component left out: %s items need about %.0f MB, over "
            "model.item_item.max_memory_mb %.0f",
            f"{n_items:,}",
            need / 2**20,
            config.max_memory_mb,
        )
        return None
    monitor = MetricRef.parse(training_config.monitor)
    metric = monitor if monitor.ranking else MetricRef("ndcg", 10)
    k = metric.k if metric.k is not None else 10
    truth_u, truth_i = valid["user_idx"].to_numpy(np.int64), valid["item_idx"].to_numpy(np.int64)
    seen_u, seen_i = train["user_idx"].to_numpy(np.int64), train["item_idx"].to_numpy(np.int64)

    def measure(score: Callable[[torch.Tensor], torch.Tensor]) -> float:
        with torch.inference_mode():
            means, _, _ = evaluate_ranking(score, n_items, truth_u, truth_i, seen_u, seen_i, (k,))
        return float(means[metric.key])

    def better(value: float, best: float | None) -> bool:
        if best is None:
            return True
        return value < best if metric.direction == "min" else value > best

    started = time.perf_counter()
    network = trained.build()
    indptr, known = network.history_indptr, network.history_items
    text = torch.from_numpy(np.ascontiguousarray(inputs.item_embeddings))
    network_scores = network.catalogue_scorer(item_item=False)

    def item_item_scores(weights: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda users: known_matrix(indptr, known, users, n_items) @ weights

    def blended_scores(
        weights: torch.Tensor, weight: float
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        item_item = item_item_scores(weights)
        return lambda users: blend(network_scores(users), item_item(users), weight)

    text_weights = config.text_weight if model_config.use_text else (0.0,)
    vectors = network.ranking_item_vectors()  # (I, H), for the network kernel

    def fit(
        l2: float, text_weight: float, network_weight: float = 0.0
    ) -> tuple[float, torch.Tensor]:
        weights = item_item_weights(
            seen_u,
            seen_i,
            n_users,
            n_items,
            l2,
            text,
            text_weight,
            config.text_power,
            network=vectors,
            network_weight=network_weight,
            network_power=config.network_power,
        )
        return measure(item_item_scores(weights)), weights

    best = search_by_turns(config.l2, text_weights, fit, better)
    l2, text_weight, weights = best.first, best.second, best.fitted
    component_value, fits = best.value, len(best.values)
    # Then the network's own item vectors as a second kernel, at the chosen pair.
    network_weight = 0.0
    for candidate in (w for w in config.network_weight if w > 0):
        value, fitted = fit(l2, text_weight, candidate)
        fits += 1
        if better(value, component_value):
            network_weight, weights, component_value = candidate, fitted, value
    chosen, chosen_value = 0.0, None
    for weight in config.weight:
        value = measure(blended_scores(weights, weight))
        if better(value, chosen_value):
            chosen, chosen_value = weight, value
    logger.info(
        "item-item component: l2 %g, text weight %g, network weight %g, blend weight %g "
        "(valid %s %.4f), chosen in %.1f s (%d fits)",
        l2,
        text_weight,
        network_weight,
        chosen,
        metric.key,
        chosen_value,
        time.perf_counter() - started,
        fits,
    )
    if chosen <= 0:
        return None
    choice = ItemItemChoice(
        l2, text_weight, config.text_power, chosen, network_weight, config.network_power
    )
    return choice, weights


def fit_item_item(
    interactions: pd.DataFrame,
    inputs: ModelInputs,
    choice: ItemItemChoice,
    network: TrainedModel,
) -> torch.Tensor:
    """The component's weights (I, I) for ``choice``, fitted on ``interactions`` (what
    ``network``, the network it is blended with, trained on; its item vectors make the
    network kernel)."""
    vectors = network.build().ranking_item_vectors() if choice.network_weight > 0 else None
    return item_item_weights(
        interactions["user_idx"].to_numpy(np.int64),
        interactions["item_idx"].to_numpy(np.int64),
        len(inputs.user_embeddings),
        len(inputs.item_embeddings),
        choice.l2,
        torch.from_numpy(np.ascontiguousarray(inputs.item_embeddings)),
        choice.text_weight,
        choice.text_power,
        vectors,
        choice.network_weight,
        choice.network_power,
    )


def choose_interest_blend(
    trained: TrainedModel, valid: pd.DataFrame, seed: int = 0, max_users: int = BLEND_USERS
) -> InterestBlend:
    """How the first interest task's forecast reads the ranking task, chosen on ``valid``
    (:func:`mtrec.evaluation.interests.choose_blend`): the network, reading its training
    history, forecasts the topic shares of each valid user's interactions (at most
    ``max_users`` of them, drawn with ``seed``), and the blend of its head with the topics
    of the items its ranking task expects next that fits them best is kept; the head alone
    when nothing fits better. The ranking task knows which items are new and popular now,
    which the head, reading only the user, does not."""
    network = with_interest_blend(trained, InterestBlend()).build()
    users = np.unique(valid["user_idx"].to_numpy(np.int64))
    if len(users) > max_users:
        drawn = np.random.default_rng(seed).choice(users, max_users, replace=False)
        valid = valid[valid["user_idx"].isin(drawn)]
    users, target = period_topic_counts(network, valid)
    started = time.perf_counter()
    with torch.inference_mode():
        idx = torch.from_numpy(users)
        head = network.interest_shares(idx).double().numpy()
        expected = network.ranking_topic_shares(idx, BLEND_TEMPERATURES).double().numpy()
    choice = choose_blend(target, head, expected, BLEND_TEMPERATURES)
    logger.info(
        "interest forecast: head x %.1f + ranking x %.1f at temperature %.1f, valid KL %.4f "
        "(head alone %.4f; %d users, %.1f s)",
        choice.head,
        choice.ranking,
        choice.temperature,
        choice.kl,
        choice.head_kl,
        len(users),
        time.perf_counter() - started,
    )
    return InterestBlend(choice.head, choice.ranking, choice.temperature)


def with_interest_blend(trained: TrainedModel, blend: InterestBlend) -> TrainedModel:
    """``trained`` whose interest forecast reads the ranking task by ``blend``."""
    spec = dataclasses.replace(
        trained.spec,
        interest_head_weight=blend.head,
        interest_ranking_weight=blend.ranking,
        interest_ranking_temperature=blend.temperature,
    )
    return dataclasses.replace(trained, spec=spec)


def with_item_item(
    trained: TrainedModel, choice: ItemItemChoice, weights: torch.Tensor
) -> TrainedModel:
    """``trained`` carrying the item-item component ``choice`` with its (I, I) ``weights``."""
    spec = dataclasses.replace(
        trained.spec,
        item_item_weight=choice.weight,
        item_item_l2=choice.l2,
        item_item_text_weight=choice.text_weight,
        item_item_text_power=choice.text_power,
        item_item_network_weight=choice.network_weight,
        item_item_network_power=choice.network_power,
    )
    state = trained.state_dict | {"item_item": weights}
    return dataclasses.replace(trained, spec=spec, state_dict=state)
