from typing import Annotated, Any

import numpy as np
import pandas as pd
from zenml import ArtifactConfig, log_metadata, step
from zenml.enums import ArtifactType

from mtrec.config import ModelConfig, TrainingConfig
from mtrec.models.serialization import TrainedModel
from mtrec.training.fit import fit_recommender, history_dict
from steps.caching import LIBRARY_CACHE_POLICY
from steps.materializers import TrainedModelMaterializer


@step(
    cache_policy=LIBRARY_CACHE_POLICY,
    output_materializers={"recommender": TrainedModelMaterializer},
)
def train_model(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    users: pd.DataFrame,
    items: pd.DataFrame,
    item_embeddings: np.ndarray,
    user_embeddings: np.ndarray,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    edges: pd.DataFrame | None = None,
) -> tuple[
    Annotated[TrainedModel, ArtifactConfig(name="recommender", artifact_type=ArtifactType.MODEL)],
    Annotated[dict[str, Any], "training_history"],
]:
    """Train the weighted multi-task recommender with early stopping on the monitored
    validation metric; ``edges`` (user-user) feed the social input and link tasks."""
    trained, result = fit_recommender(
        train, valid, item_embeddings, user_embeddings, users["user_id"], items["item_id"],
        model_config, training_config, edges,
    )  # fmt: skip
    summary = {"best_epoch": result.best_epoch, "seconds": result.seconds,
               "valid_ndcg@10": result.best_valid.get("ndcg@10", 0.0)}  # fmt: skip
    log_metadata({"training": summary})
    return trained, history_dict(result)
