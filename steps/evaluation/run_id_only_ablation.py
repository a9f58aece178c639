from typing import Annotated, Any

import numpy as np
import pandas as pd
from zenml import log_metadata, step

from mtrec.config import EvaluationConfig, ModelConfig, TrainingConfig
from mtrec.evaluation.ablation import id_only_ablation
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
    edges: pd.DataFrame | None = None,
) -> Annotated[dict[str, Any], "id_only_metrics"]:
    """Train and evaluate the same model without text features: what the text is worth."""
    metrics = id_only_ablation(
        train, valid, test, users, items, item_embeddings, user_embeddings,
        model_config, training_config, config, edges,
    )  # fmt: skip
    log_metadata({"id_only": {"test": metrics["test"], "cold_items": metrics["slices"]}})
    return metrics
