from typing import Annotated, Any

import numpy as np
import pandas as pd
from zenml import ArtifactConfig, log_metadata, step
from zenml.enums import ArtifactType

from mtrec.config import ModelConfig, TrainingConfig
from mtrec.evaluation.interests import Topics
from mtrec.models.serialization import TrainedModel
from mtrec.training.history import TrainingHistory
from mtrec.workflows.inputs import ModelInputs
from steps.caching import LIBRARY_CACHE_POLICY
from steps.materializers import TrainedModelMaterializer


@step(
    cache_policy=LIBRARY_CACHE_POLICY,
    output_materializers={
        "serving_view_recommender": TrainedModelMaterializer,
        "served_recommender": TrainedModelMaterializer,
    },
)
def refit_model(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    users: pd.DataFrame,
    items: pd.DataFrame,
    item_embeddings: np.ndarray,
    user_embeddings: np.ndarray,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    training_history: TrainingHistory,
    recommender: TrainedModel,
    # No defaults: ZenML loads an input typed ``X | None`` by the artifact's stored type path
    # (src.mtrec.*, a second copy of the module), which no materializer of ours accepts.
    edges: pd.DataFrame | None,
    item_topics: Topics,
) -> tuple[
    Annotated[TrainedModel, "serving_view_recommender"],
    Annotated[
        TrainedModel, ArtifactConfig(name="served_recommender", artifact_type=ArtifactType.MODEL)
    ],
]:
    """The evaluated model refit (``training_config.refit_from``: trained on from its
    weights, or the same configuration from scratch for the epochs early stopping chose): on
    train + valid, the model a deployment has the day after the valid period (scored on test:
    the serving view), and on every interaction, what ``make recommend`` serves (never scored:
    nothing is left that it did not see). The evaluated ``recommender`` stays for reports and
    the gate; its item-item component, chosen on valid, is refitted with each."""
    # Imported when the step runs: defining the pipeline (every run, cached ones too) then
    # needs no torch.
    from mtrec.workflows.fit import refit_recommenders

    epochs = training_history.best_epoch
    datasets = {
        "serving_view": pd.concat([train, valid], ignore_index=True),
        "served": pd.concat([train, valid, test], ignore_index=True),
    }
    refits = refit_recommenders(
        list(datasets.values()),
        ModelInputs.from_frames(
            users, items, item_embeddings, user_embeddings, edges, item_topics.assignment
        ),
        model_config,
        training_config,
        epochs,
        recommender.spec.item_item,
        start=recommender,
    )
    summary: dict[str, Any] = {"from": training_config.refit_from}
    for (name, interactions), (_, result) in zip(datasets.items(), refits, strict=True):
        summary[name] = {
            "interactions": len(interactions),
            "epochs": len(result.history),
            "seconds": result.seconds,
        }
    log_metadata({"refit": summary})
    return refits[0][0], refits[1][0]
