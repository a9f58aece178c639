from typing import Annotated, Any

import numpy as np
import pandas as pd
from zenml import log_metadata, step

from mtrec.config import EvaluationConfig, ModelConfig, TrainingConfig
from mtrec.evaluation.evaluate import evaluate_recommender
from mtrec.training.fit import fit_recommender
from steps.caching import LIBRARY_CACHE_POLICY


@step(cache_policy=LIBRARY_CACHE_POLICY)
def run_id_only_ablation(
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
) -> Annotated[dict[str, Any], "id_only_metrics"]:
    """Train and evaluate the same model without text features: what the text is worth."""
    id_only = model_config.model_copy(update={"use_text": False})
    trained, result = fit_recommender(
        train, valid, item_embeddings, user_embeddings, users["user_id"], items["item_id"],
        id_only, training_config,
    )  # fmt: skip
    metrics, _ = evaluate_recommender(
        trained.build(), train, valid, test, users, items, config.ks, config.recommendations_k,
        model_config.like_threshold, config.cold_item_max_train,
    )  # fmt: skip
    metrics["training"] = {"best_epoch": result.best_epoch, "seconds": result.seconds}
    log_metadata({"id_only": {"test": metrics["test"], "cold_items": metrics["slices"]}})
    return metrics
