from typing import Annotated

import numpy as np
import pandas as pd
from zenml import log_metadata, step

from mtrec.config import EvaluationConfig, InterestsConfig, ModelConfig, RerankConfig
from mtrec.evaluation.interests import Topics
from mtrec.evaluation.results import EvaluationResult
from mtrec.models.serialization import TrainedModel
from steps.caching import LIBRARY_CACHE_POLICY
from steps.materializers import EvaluationResultMaterializer


@step(
    cache_policy=LIBRARY_CACHE_POLICY,
    output_materializers={"evaluation_metrics": EvaluationResultMaterializer},
)
def evaluate_model(
    recommender: TrainedModel,
    serving_view_recommender: TrainedModel,
    serving_view_refit: bool,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    users: pd.DataFrame,
    items: pd.DataFrame,
    config: EvaluationConfig,
    model_config: ModelConfig,
    # Required: an input typed ``Topics | None`` is loaded by its stored type path (src.mtrec.*).
    topics: Topics,
    seed: int = 0,
    edges: pd.DataFrame | None = None,
    item_embeddings: np.ndarray | None = None,
    rerank: RerankConfig | None = None,
    interests: InterestsConfig | None = None,
) -> tuple[
    Annotated[EvaluationResult, "evaluation_metrics"],
    Annotated[pd.DataFrame, "test_recommendations"],
    Annotated[pd.DataFrame, "serving_recommendations"],
]:
    """Full-ranking metrics for the model and the baselines (tuned on valid), in the RecBole
    view (trained on train) and the serving view (refit on train + valid; without a refit,
    the evaluated model reading train + valid), and both views' test top-K lists. With
    ``rerank`` (and ``topics``), the diversity trade-off of every re-ranker and the test lists
    re-ranked as configured.

    ``serving_view_recommender`` is the refit on train + valid when ``serving_view_refit``;
    without a refit the pipeline passes the evaluated model again (a step input typed
    ``TrainedModel | None`` cannot be loaded by ZenML: it falls back to the artifact's stored
    type path)."""
    # Imported when the step runs: defining the pipeline (every run, cached ones too) then
    # needs no torch.
    from mtrec.evaluation.evaluate import (
        EvaluationData,
        ServingView,
        evaluate_recommender,
    )

    serving = ServingView(serving_view_recommender.build() if serving_view_refit else None)
    metrics, recommendations = evaluate_recommender(
        recommender.build(),
        EvaluationData(train, valid, test, users, items, edges, item_embeddings, topics),
        model_config.tasks,
        config,
        seed=seed,
        serving=serving,
        rerank=rerank,
        interests=interests,
    )
    log_metadata(metrics.summary())
    assert serving.recommendations is not None
    return metrics, recommendations, serving.recommendations
