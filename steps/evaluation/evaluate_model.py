from typing import Annotated, Any

import numpy as np
import pandas as pd
from zenml import log_metadata, step

from mtrec.config import EvaluationConfig, ModelConfig
from mtrec.evaluation.evaluate import evaluate_recommender
from mtrec.models.serialization import TrainedModel
from steps.caching import LIBRARY_CACHE_POLICY


@step(cache_policy=LIBRARY_CACHE_POLICY)
def evaluate_model(
    recommender: TrainedModel,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    users: pd.DataFrame,
    items: pd.DataFrame,
    config: EvaluationConfig,
    model_config: ModelConfig,
    edges: pd.DataFrame | None = None,
    item_embeddings: np.ndarray | None = None,
) -> tuple[
    Annotated[dict[str, Any], "evaluation_metrics"],
    Annotated[pd.DataFrame, "test_recommendations"],
]:
    """Full-ranking metrics for the model and the popularity baseline, and test top-K lists."""
    metrics, recommendations = evaluate_recommender(
        recommender.build(), train, valid, test, users, items, config.ks,
        config.recommendations_k, model_config.tasks, config.cold_item_max_train,
        config.baselines, len(users), edges=edges, item_embeddings=item_embeddings,
    )  # fmt: skip
    log_metadata({"test": metrics["test"], "valid": metrics["valid"],
                  "baseline_popularity": metrics["baselines"]["popularity"],
                  "cold_items": metrics["slices"]["cold_items"]})  # fmt: skip
    return metrics, recommendations
