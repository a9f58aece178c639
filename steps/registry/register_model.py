from typing import Annotated, Any

import pandas as pd
from zenml import get_step_context, log_metadata, step
from zenml.client import Client
from zenml.enums import ModelStages

from mtrec.config import RunConfig
from mtrec.evaluation.results import EvaluationResult
from mtrec.models.serialization import TrainedModel
from steps.caching import LIBRARY_CACHE_POLICY


@step(cache_policy=LIBRARY_CACHE_POLICY)
def register_model(
    evaluation_metrics: EvaluationResult,
    drift_summary: dict[str, Any],
    config: RunConfig,
    recommender: TrainedModel,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    users: pd.DataFrame,
    items: pd.DataFrame,
) -> tuple[
    Annotated[dict[str, Any], "promotion_decision"],
    Annotated[dict[str, Any], "run_config"],
]:
    """Record metrics on this run's model version; promote it to production if it clears the
    popularity floor (``registry.min_lift_over_popularity``; the first version too) and is
    better than production: with ``registry.gate: bootstrap``, the candidate and the
    production model are scored on this run's ``promotion_metric`` split, on the users both
    know, and compared with a paired bootstrap (see :mod:`mtrec.registry.gate`); the secondary
    task metrics of both are measured on the same pairs and checked against their tolerances.
    A failure anywhere before this step leaves production as it is.

    Cached like every step: the same data, config and code name the same model version, so a
    rerun of the same inputs leaves the registry as it is (idempotent) instead of deciding again.
    """
    # Imported when the step runs: defining the pipeline (every run, cached ones too) then
    # needs no torch.
    from mtrec.registry.promotion import Production, decide_version

    model = get_step_context().model
    log_metadata(
        {
            **evaluation_metrics.to_json(),
            "drift": drift_summary,
            "config": config.model_dump(mode="json"),
        },
        infer_model=True,
    )
    try:
        version = Client().get_model_version(model.name, ModelStages.PRODUCTION)
    except KeyError:
        version = None
    production = None
    if version is not None:

        def load() -> tuple[TrainedModel, pd.DataFrame | None]:
            train_split = version.get_artifact("train")
            evaluated = version.get_artifact("recommender").load()
            return evaluated, None if train_split is None else train_split.load()

        recorded = {split: version.run_metadata.get(split, {}) for split in ("valid", "test")}
        production = Production(version.name, version.id == model.id, recorded, load)
    decision = decide_version(
        str(model.version),
        evaluation_metrics,
        recommender,
        production,
        config,
        (train, valid, test),
        users,
        items,
    )
    if decision.promote:
        model.set_stage(ModelStages.PRODUCTION, force=True)
    log_metadata({"promotion": decision.to_dict()}, infer_model=True)
    return decision.to_dict(), config.model_dump(mode="json")
