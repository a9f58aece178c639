"""An honest comparison: every architecture x task-weighting combination, the single-task
models and the baselines, trained and evaluated on one split with one evaluator.

The comparison pipeline (``pipelines/comparison.py``) sequences it: the training pipeline's
data steps make the split and its text embeddings, then one step per variant calls
:func:`variant_row` and one per baseline :func:`baseline_row`. Resuming an interrupted
comparison is ZenML's step cache, keyed by each step's inputs, parameters and the library code.

The baselines are scored as :func:`mtrec.evaluation.evaluate.evaluate_recommender` scores them:
parameters chosen on valid and fitted on train (the row's metrics, the RecBole view), and the
chosen parameters refit on train + valid (its ``serving_*`` metrics). Test is ranked with train
and valid masked in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mtrec.config import EvaluationConfig, ModelConfig, RunConfig, TrainingConfig
from mtrec.data.split import Split
from mtrec.evaluation.baselines import BaselineSkipped, fit_baseline, tune_and_fit_baseline
from mtrec.evaluation.evaluate import EvaluationData, evaluate_recommender, rank_split
from mtrec.workflows.fit import fit_recommender
from mtrec.workflows.inputs import ModelInputs

ARCHITECTURES = ("shared_bottom", "mmoe", "ple")
WEIGHTINGS = ("static", "uncertainty", "dwa", "gradnorm")


@dataclass(frozen=True)
class Prepared:
    """One split with its text embeddings (the data steps' artifacts): what a variant trains
    and is scored on."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame
    item_embeddings: np.ndarray
    user_embeddings: np.ndarray
    edges: pd.DataFrame | None = None


def default_variants(config: RunConfig) -> dict[str, dict[str, Any]]:
    """Name -> ``{"model": {...}, "training": {...}}`` overrides of the run config.

    Every architecture with every weighting scheme (with the config's ranking head), the
    config's own combination with the other ranking head and without text (ids only), and the
    two single-task models: ``watch``
    alone (the ranking model) and ``rating`` alone (its RMSE; the ranking head is kept at
    weight 0 because every model needs one to rank, and early stopping reads the RMSE).
    """
    variants: dict[str, dict[str, Any]] = {}
    for architecture in ARCHITECTURES:
        for weighting in WEIGHTINGS:
            variants[f"{architecture}+{weighting}"] = {
                "model": {"architecture": architecture},
                "training": {"task_weighting": weighting},
            }
    # The default combination with the other ranking head: what the head costs or gains.
    other = "neumf" if config.model.ranking_interaction == "dot" else "dot"
    default = f"{config.model.architecture}+{config.training.task_weighting}"
    variants[f"{default}, {other} head"] = {"model": {"ranking_interaction": other}}
    if config.model.use_text:  # what the language model adds: the same model on ids alone
        variants[f"{default}, no text"] = {"model": {"use_text": False}}
    ranking = config.model.ranking_task
    variants[f"single-task {ranking}"] = {
        "model": {"tasks": {ranking: config.model.tasks[ranking].model_dump()}},
        "training": {"task_weighting": "static"},
    }
    if "rating" in config.model.tasks:
        variants["single-task rating"] = {
            "model": {
                "tasks": {
                    ranking: {**config.model.tasks[ranking].model_dump(), "weight": 0.0},
                    "rating": {**config.model.tasks["rating"].model_dump(), "weight": 1.0},
                }
            },
            "training": {"task_weighting": "static", "monitor": "rating_rmse"},
        }
    return variants


def variant_configs(
    config: RunConfig, overrides: dict[str, Any]
) -> tuple[ModelConfig, TrainingConfig]:
    """The run's model and training sections with ``overrides`` applied and validated."""
    model = ModelConfig.model_validate({**config.model.model_dump(), **overrides.get("model", {})})
    training = TrainingConfig.model_validate(
        {**config.training.model_dump(), **overrides.get("training", {})}
    )
    return model, training


def variant_row(
    name: str,
    data: Prepared,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    evaluation: EvaluationConfig,
    item_topics: np.ndarray | None = None,
) -> dict[str, Any]:
    """Variant ``name`` (its effective sections, :func:`variant_configs`) trained on train with
    early stopping on valid and scored on test: ``ndcg@k``, ``recall@k``, per-task metrics,
    ``train_seconds``, ``best_epoch``, its ``architecture``, ``weighting``, ``ranking_head`` and
    the ``tasks`` it weighs. ``item_topics`` (I,), each item's topic, is read only by a variant
    with an ``interest`` task."""
    interest = any(task.kind == "interest" for task in model_config.tasks.values())
    trained, result = fit_recommender(
        data.train,
        data.valid,
        ModelInputs.from_frames(
            data.users,
            data.items,
            data.item_embeddings,
            data.user_embeddings,
            data.edges,
            item_topics if interest else None,
        ),
        model_config,
        training_config,
        name,
    )
    metrics, _ = evaluate_recommender(
        trained.build(),
        EvaluationData(data.train, data.valid, data.test, data.users, data.items, data.edges),
        model_config.tasks,
        evaluation.model_copy(update={"baselines": ()}),  # scored once, in their own rows
        seed=training_config.seed,
    )
    return {
        "kind": "single-task" if name.startswith("single-task") else "multi-task",
        "architecture": model_config.architecture,
        "weighting": training_config.task_weighting,
        "ranking_head": model_config.ranking_interaction,
        "tasks": sorted(t for t, c in model_config.tasks.items() if c.weight > 0),
        "train_seconds": result.seconds,
        "best_epoch": result.best_epoch,
        **metrics.test,
    }


def baseline_row(
    name: str,
    split: Split,
    n_users: int,
    n_items: int,
    ks: tuple[int, ...],
    seed: int,
    baseline_max_memory_mb: float,
) -> dict[str, Any]:
    """Baseline ``name`` tuned on valid and fitted on train, scored on test: its metrics,
    the chosen ``params`` and their ``valid_ndcg``, the tuning time as ``train_seconds``, and
    ``serving_<metric>`` for the chosen parameters refit on train + valid. A baseline over its
    budget (EASE above ``baseline_max_memory_mb``) is a row with the ``skipped`` reason and no
    metrics."""
    history = pd.concat([split.train, split.valid], ignore_index=True)
    try:
        tuned, scorer = tune_and_fit_baseline(
            name, split.train, split.valid, n_users, n_items, seed, baseline_max_memory_mb
        )
        serving = fit_baseline(
            name, tuned.params, history, n_users, n_items, seed, baseline_max_memory_mb
        )
    except BaselineSkipped as skip:
        return {"kind": "baseline", "skipped": skip.reason}
    metrics = rank_split(scorer, n_items, split.test, history, ks).metrics
    serving_metrics = rank_split(serving, n_items, split.test, history, ks).metrics
    return {
        "kind": "baseline",
        "params": dict(tuned.params),
        "valid_ndcg": tuned.valid_ndcg,
        "train_seconds": tuned.seconds,
        **metrics,
        **{f"serving_{metric}": value for metric, value in serving_metrics.items()},
    }


def comparison_table(rows: dict[str, dict[str, Any]], k: int = 10) -> pd.DataFrame:
    """One line per model, best NDCG@k first: the columns the closing note and report show.
    ``serving_ndcg@k`` is a baseline's, refit on train + valid; a ``skipped`` column (the
    reason, and no metrics) is added when a baseline was skipped."""
    ranking = [f"ndcg@{k}", f"recall@{k}", f"serving_ndcg@{k}"]
    columns = [*ranking, "watch_auc", "like_auc", "rating_rmse", "train_seconds", "best_epoch"]
    frame = pd.DataFrame.from_dict(rows, orient="index")
    for column in columns:
        if column not in frame:
            frame[column] = np.nan
    notes = ["skipped"] if "skipped" in frame and frame["skipped"].notna().any() else []
    return frame[["kind", *columns, *notes]].sort_values(f"ndcg@{k}", ascending=False)
