from dataclasses import asdict
from typing import Annotated, Any

import numpy as np
import pandas as pd
from zenml import ArtifactConfig, log_metadata, step
from zenml.enums import ArtifactType

from mtrec.config import EvaluationConfig, ModelConfig, TrainingConfig
from mtrec.data.split import Split
from mtrec.evaluation.interests import Topics
from mtrec.models.serialization import TrainedModel
from mtrec.training.history import TrainingHistory
from mtrec.workflows.inputs import ModelInputs
from steps.caching import LIBRARY_CACHE_POLICY
from steps.materializers import TrainedModelMaterializer


@step(
    cache_policy=LIBRARY_CACHE_POLICY,
    output_materializers={"recommender": TrainedModelMaterializer},
)
def train_model(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    users: pd.DataFrame,
    items: pd.DataFrame,
    item_embeddings: np.ndarray,
    user_embeddings: np.ndarray,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    evaluation_config: EvaluationConfig,
    # No defaults: ZenML loads an input typed ``X | None`` by the artifact's stored type path
    # (src.mtrec.*, a second copy of the module), which no materializer of ours accepts.
    edges: pd.DataFrame | None,
    item_topics: Topics,
) -> tuple[
    Annotated[TrainedModel, ArtifactConfig(name="recommender", artifact_type=ArtifactType.MODEL)],
    Annotated[TrainingHistory, "training_history"],
    Annotated[dict[str, Any], "id_only_metrics"],
]:
    """Train the weighted multi-task recommender with early stopping on the monitored
    validation metric; ``edges`` (user-user) feed the social input and link tasks. With
    ``evaluation.id_only_ablation``, the same model without text trains beside it and is
    evaluated on test (``id_only_metrics``, empty without the ablation): what the text is
    worth, for little more time than the model alone. ``item_topics``: what an ``interest``
    task predicts shares of."""
    # Imported when the step runs: defining the pipeline (every run, cached ones too) then
    # needs no torch.
    from mtrec.workflows.ablation import fit_with_id_only_ablation

    inputs = ModelInputs.from_frames(
        users, items, item_embeddings, user_embeddings, edges, item_topics.assignment
    )
    trained, result, id_only = fit_with_id_only_ablation(
        Split(train, valid, test),
        users,
        items,
        inputs,
        model_config,
        training_config,
        evaluation_config,
    )
    if id_only:
        log_metadata({"id_only": {"test": id_only["test"], "cold_items": id_only["slices"]}})
    summary = {
        "best_epoch": result.best_epoch,
        "seconds": result.seconds,
        "valid_ndcg@10": result.best_valid.get("ndcg@10", 0.0),
        # Chosen on valid after training; None: left out or not preferred.
        "item_item": None if (choice := trained.spec.item_item) is None else asdict(choice),
    }
    log_metadata({"training": summary})
    return trained, result.record(), id_only
