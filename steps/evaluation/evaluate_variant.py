from typing import Annotated, Any

import numpy as np
import pandas as pd
from zenml import log_metadata, step

from mtrec.config import EvaluationConfig, ModelConfig, TrainingConfig
from mtrec.evaluation.interests import Topics
from mtrec.workflows.comparison import Prepared, variant_row
from steps.caching import LIBRARY_CACHE_POLICY


@step(cache_policy=LIBRARY_CACHE_POLICY)
def evaluate_variant(
    name: str,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    users: pd.DataFrame,
    items: pd.DataFrame,
    item_embeddings: np.ndarray,
    user_embeddings: np.ndarray,
    edges: pd.DataFrame,
    item_topics: Topics,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    evaluation: EvaluationConfig,
) -> Annotated[dict[str, Any], "comparison_row"]:
    """Train comparison variant ``name`` (its effective model and training sections) on
    train, stopping early on valid, and score it on test: its row of the comparison."""
    data = Prepared(train, valid, test, users, items, item_embeddings, user_embeddings, edges)
    row = variant_row(name, data, model_config, training_config, evaluation, item_topics.assignment)
    log_metadata(
        {
            "comparison": {
                "variant": name,
                "best_epoch": row["best_epoch"],
                "train_seconds": row["train_seconds"],
            }
        }
    )
    return row
