from typing import Annotated, Any

import numpy as np
import pandas as pd
from zenml import ArtifactConfig, log_metadata, step
from zenml.enums import ArtifactType

from mtrec.config import ModelConfig, TrainingConfig
from mtrec.models.serialization import TrainedModel
from mtrec.training.fit import refit_recommender
from steps.caching import LIBRARY_CACHE_POLICY
from steps.materializers import TrainedModelMaterializer


def _refit(
    frames: list[pd.DataFrame],
    users: pd.DataFrame,
    items: pd.DataFrame,
    item_embeddings: np.ndarray,
    user_embeddings: np.ndarray,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    training_history: dict[str, Any],
    edges: pd.DataFrame | None,
) -> tuple[TrainedModel, dict[str, Any]]:
    interactions = pd.concat(frames, ignore_index=True)
    epochs = int(training_history["best_epoch"])
    trained, result = refit_recommender(
        interactions, item_embeddings, user_embeddings, users["user_id"], items["item_id"],
        model_config, training_config, epochs, edges,
    )  # fmt: skip
    return trained, {"epochs": epochs, "interactions": len(interactions),
                     "seconds": result.seconds}  # fmt: skip


@step(
    cache_policy=LIBRARY_CACHE_POLICY,
    output_materializers={"serving_view_recommender": TrainedModelMaterializer},
)
def refit_for_serving_view(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    users: pd.DataFrame,
    items: pd.DataFrame,
    item_embeddings: np.ndarray,
    user_embeddings: np.ndarray,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    training_history: dict[str, Any],
    edges: pd.DataFrame | None = None,
) -> Annotated[TrainedModel, "serving_view_recommender"]:
    """The same configuration refit on train + valid for the chosen number of epochs: the
    model a deployment would have the day after the valid period, scored on test."""
    trained, summary = _refit([train, valid], users, items, item_embeddings, user_embeddings,
                              model_config, training_config, training_history, edges)  # fmt: skip
    log_metadata({"serving_view_refit": summary})
    return trained


@step(
    cache_policy=LIBRARY_CACHE_POLICY,
    output_materializers={"served_recommender": TrainedModelMaterializer},
)
def refit_served_model(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    users: pd.DataFrame,
    items: pd.DataFrame,
    item_embeddings: np.ndarray,
    user_embeddings: np.ndarray,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    training_history: dict[str, Any],
    edges: pd.DataFrame | None = None,
) -> Annotated[
    TrainedModel, ArtifactConfig(name="served_recommender", artifact_type=ArtifactType.MODEL)
]:
    """The same configuration refit on every interaction for the chosen number of epochs:
    what ``make recommend`` serves. It is never scored (nothing is left that it did not
    train on); the evaluated ``recommender`` stays linked for the reports and the gate."""
    trained, summary = _refit([train, valid, test], users, items, item_embeddings,
                              user_embeddings, model_config, training_config, training_history,
                              edges)  # fmt: skip
    log_metadata({"served_refit": summary})
    return trained
