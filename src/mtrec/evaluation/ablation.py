"""Ablations run beside the main model: the same model and split with one ingredient removed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mtrec.config import EvaluationConfig, ModelConfig, TrainingConfig
from mtrec.evaluation.evaluate import evaluate_recommender
from mtrec.training.fit import fit_recommender


def id_only_ablation(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    users: pd.DataFrame,
    items: pd.DataFrame,
    item_embeddings: np.ndarray,
    user_embeddings: np.ndarray,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    config: EvaluationConfig,
    edges: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Train and evaluate the same model without text features: what the text is worth."""
    id_only = model_config.model_copy(update={"use_text": False})
    trained, result = fit_recommender(
        train, valid, item_embeddings, user_embeddings, users["user_id"], items["item_id"],
        id_only, training_config, edges,
    )  # fmt: skip
    metrics, _ = evaluate_recommender(
        trained.build(), train, valid, test, users, items, config.ks, config.recommendations_k,
        model_config.tasks, config.cold_item_max_train, edges=edges,
    )  # fmt: skip
    metrics["training"] = {"best_epoch": result.best_epoch, "seconds": result.seconds}
    return metrics
