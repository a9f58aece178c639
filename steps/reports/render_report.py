from typing import Annotated, Any

import pandas as pd
from zenml import step
from zenml.types import HTMLString

from mtrec.evaluation.interests import Topics
from mtrec.evaluation.results import EvaluationResult
from mtrec.training.history import TrainingHistory
from steps.caching import LIBRARY_CACHE_POLICY


@step(cache_policy=LIBRARY_CACHE_POLICY)
def render_report(
    evaluation_metrics: EvaluationResult,
    training_history: TrainingHistory,
    drift_summary: dict[str, Any],
    promotion_decision: dict[str, Any],
    ks: tuple[int, ...],
    id_only_metrics: dict[str, Any] | None = None,
    item_topics: Topics | None = None,
    user_interests: pd.DataFrame | None = None,
) -> Annotated[HTMLString, "evaluation_report"]:
    """The evaluation report reviewers read: model against baselines, slices, curves, the
    diversity trade-off, item topics and user interests."""
    # Imported when the step runs: defining the pipeline (every run, cached ones too) then
    # needs no torch.
    from mtrec.reports.evaluation import render_evaluation_report

    id_only = EvaluationResult.model_validate(id_only_metrics) if id_only_metrics else None
    interests = None
    if item_topics is not None and user_interests is not None:
        interests = (item_topics, user_interests)
    return HTMLString(
        render_evaluation_report(
            evaluation_metrics,
            training_history,
            id_only,
            drift_summary,
            promotion_decision,
            ks,
            interests=interests,
        )
    )
