from typing import Annotated, Any

import pandas as pd
from zenml import get_step_context, log_metadata, step
from zenml.client import Client
from zenml.enums import ModelStages

from mtrec.config import RunConfig
from mtrec.models.serialization import TrainedModel
from mtrec.registry.gate import head_to_head, not_trained_on, same_data_metrics
from mtrec.registry.promotion import (
    decide_promotion,
    gate_promotion,
    popularity_floor,
    popularity_on,
)
from steps.caching import LIBRARY_CACHE_POLICY


@step(cache_policy=LIBRARY_CACHE_POLICY)
def register_model(
    evaluation_metrics: dict[str, Any],
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
    model = get_step_context().model
    section, _, name = config.registry.promotion_metric.partition(".")
    candidate = float(evaluation_metrics[section][name])
    floor = popularity_floor(
        config.registry.promotion_metric, candidate,
        popularity_on(evaluation_metrics, config.registry.promotion_metric),
        config.registry.min_lift_over_popularity,
    )  # fmt: skip
    log_metadata({**evaluation_metrics, "drift": drift_summary,
                  "config": config.model_dump(mode="json")}, infer_model=True)  # fmt: skip
    try:
        production = Client().get_model_version(model.name, ModelStages.PRODUCTION)
    except KeyError:
        production = None
    if production is not None and production.id == model.id:
        decision = {"promote": False, "reason": "this version is already in production",
                    "metric": config.registry.promotion_metric, "candidate": candidate,
                    "production": candidate}  # fmt: skip
    elif config.registry.gate == "bootstrap" and production is not None and floor.passed:
        registry = config.registry
        truth, history = (valid, train) if section == "valid" else (test, pd.concat([train, valid]))
        try:
            # The evaluated models, never the refits: each is scored only on pairs it was not
            # trained on (production's own training split is left out of the truth).
            production_model = production.get_artifact("recommender").load()
            production_train = production.get_artifact("train")
            if production_train is not None:
                truth = not_trained_on(truth, production_train.load())
            evidence, prediction_drift = head_to_head(
                recommender, production_model, truth, history,
                users, items, name, registry.bootstrap_samples, registry.confidence,
                config.training.seed,
            )  # fmt: skip
            same_data = same_data_metrics(
                recommender, production_model, truth, history, users, items,
                tuple(sorted({*config.evaluation.ks, 10})), config.model.tasks,
                config.training.seed,
            )  # fmt: skip
        except (RuntimeError, ValueError, KeyError) as error:
            # Production cannot be scored on this data (e.g. no shared users): refuse rather
            # than guess; the reason says why, and production stays as it is.
            decision = {"promote": False, "metric": registry.promotion_metric,
                        "candidate": candidate, "production": None, "evidence": {},
                        "reason": f"production could not be scored head to head: {error}",
                        "version": str(model.version)}  # fmt: skip
            log_metadata({"promotion": decision}, infer_model=True)
            return decision, config.model_dump(mode="json")
        # Secondary metrics are compared on the same pairs, not on each model's own test split.
        decision = gate_promotion(
            registry.promotion_metric, evidence.to_dict(), registry.margin,
            same_data["candidate"], same_data["production"], registry.tolerances,
            production.name,
        ).to_dict()  # fmt: skip
        decision["evidence"]["popularity_floor"] = floor.to_dict()
        decision["evidence"]["prediction_drift"] = prediction_drift
        decision["evidence"]["same_data"] = {"split": section, **same_data}
        if decision["promote"]:
            model.set_stage(ModelStages.PRODUCTION, force=True)
    else:
        production_value = None
        if production is not None:
            production_value = float(production.run_metadata.get(section, {}).get(name, "nan"))
        # The point comparison, the first version, or a candidate below the popularity floor.
        decision = decide_promotion(
            config.registry.promotion_metric, candidate, production_value,
            production.name if production is not None else None, floor,
        ).to_dict()  # fmt: skip
        if decision["promote"]:
            model.set_stage(ModelStages.PRODUCTION, force=True)
    decision["version"] = str(model.version)
    log_metadata({"promotion": decision}, infer_model=True)
    return decision, config.model_dump(mode="json")
