"""Ablations run beside the main model: the same model and split with one ingredient removed."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pandas as pd

from mtrec.config import EvaluationConfig, ModelConfig, TrainingConfig
from mtrec.data.split import Split
from mtrec.evaluation.evaluate import EvaluationData, evaluate_recommender
from mtrec.models.serialization import TrainedModel
from mtrec.training.concurrent import run_concurrently
from mtrec.training.trainer import TrainingResult
from mtrec.workflows.fit import fit_recommender, training_cores
from mtrec.workflows.inputs import ModelInputs


def id_only_ablation(
    split: Split,
    users: pd.DataFrame,
    items: pd.DataFrame,
    inputs: ModelInputs,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    config: EvaluationConfig,
) -> dict[str, Any]:
    """Train and evaluate the same model without text features: what the text is worth.

    Returns the ``id_only_metrics`` artifact, in ``metrics.json``'s shape: the evaluation
    (:meth:`mtrec.evaluation.evaluate.EvaluationResult.to_json`, which ``model_validate``
    reads back) and the ``training`` run's best epoch and seconds. A dict, not a model: the
    artifact is an empty dict when the ablation does not run."""
    id_only = model_config.model_copy(update={"use_text": False})
    trained, result = fit_recommender(
        split.train, split.valid, inputs, id_only, training_config, "id-only ablation"
    )
    metrics, _ = evaluate_recommender(
        trained.build(),
        EvaluationData(split.train, split.valid, split.test, users, items, edges=inputs.edges),
        model_config.tasks,
        # Popularity only: the ablation is the model against itself, not against baselines.
        config.model_copy(update={"baselines": ()}),
    )
    return metrics.to_json() | {
        "training": {"best_epoch": result.best_epoch, "seconds": result.seconds}
    }


def fit_with_id_only_ablation(
    split: Split,
    users: pd.DataFrame,
    items: pd.DataFrame,
    inputs: ModelInputs,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    config: EvaluationConfig,
) -> tuple[TrainedModel, TrainingResult, dict[str, Any]]:
    """:func:`mtrec.workflows.fit.fit_recommender` and, when ``config.id_only_ablation``, the
    :func:`id_only_ablation` beside it on the other cores (the two are independent; side by
    side they take about 1.3 times one, not twice): the trained model, its training result
    and the ablation's metrics (empty without the ablation). Under ``nproc > 1`` the two run in
    turn, each spread over processes of its own."""
    fit = partial(fit_recommender, split.train, split.valid, inputs, model_config, training_config)
    if not config.id_only_ablation:
        trained, result = fit()
        return trained, result, {}
    ablation = partial(
        id_only_ablation, split, users, items, inputs, model_config, training_config, config
    )
    # The model trains here, the ablation in a process of its own. Two result types: Any.
    calls: list[Callable[[], Any]] = [ablation, fit]
    id_only, (trained, result) = run_concurrently(calls, cores=training_cores(training_config))
    return trained, result, id_only
