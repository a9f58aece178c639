"""The training pipeline: validate, split, encode text, train, evaluate, report, register."""

from typing import Any

from zenml import Model, pipeline

from mtrec.config import RunConfig
from steps.data.index_data import index_data
from steps.data.load_data import load_data
from steps.data.split_data import split_data
from steps.data.validate_data import validate_data
from steps.evaluation.evaluate_model import evaluate_model
from steps.features.build_texts import build_texts
from steps.features.describe_interests import describe_interests
from steps.features.encode_texts import encode_texts
from steps.features.mine_interests import mine_interests
from steps.hooks import record_failure, release_memory
from steps.registry.register_model import register_model
from steps.reports.render_report import render_report
from steps.reports.report_drift import report_drift
from steps.training.refit_model import refit_model
from steps.training.train_model import train_model


def candidate_model(config: RunConfig, model_version: str) -> Model:
    """The ZenML model version a training run registers its candidate as: ``model_version``
    names it after the data, config and code (``mtrec.workflows.runs.model_version_name``), so
    a rerun of the same inputs reuses its version instead of adding a duplicate."""
    return Model(
        name=config.registry.model_name,
        version=model_version,
        description="Multi-task recommender with language-model text features",
        tags=["mtrec", config.data.source],
    )


@pipeline(on_failure=record_failure, on_start=release_memory)
def training_pipeline(config: RunConfig, data_fingerprint: str, model_version: str) -> None:
    """Train and register one multi-task recommender.

    Steps after validation carry the ZenML model (:func:`candidate_model`), so a run that
    fails validation creates no model version.
    """
    raw_interactions, raw_items, raw_users, raw_edges = load_data(config.data, data_fingerprint)
    _, _, validated = validate_data(
        raw_interactions, raw_items, config.validation, config.label_columns(), config.data.funnel
    )
    train_and_register(
        config, candidate_model(config, model_version), validated, raw_items, raw_users, raw_edges
    )


def train_and_register(
    config: RunConfig,
    model: Model,
    validated: Any,
    raw_items: Any,
    raw_users: Any,
    raw_edges: Any,
) -> tuple[Any, Any]:
    """The training pipeline after validation: index, split, text, encode, interests, train,
    refit, evaluate, drift, register (and gate), report; every step carries ``model``. Called
    by the training pipeline and by the retraining pipeline when a cycle retrains, so both run
    the same steps under the same names. The frames are step outputs: placeholders in the
    static training pipeline, finished artifacts in the dynamic retraining pipeline.

    Returns the ``promotion_decision`` and ``evaluation_metrics`` outputs. Each step is given
    ``record_failure`` and ``release_memory`` itself: a dynamic pipeline runs its own hooks
    once for the run, not for each step.
    """

    def on_model(step: Any) -> Any:
        return step.with_options(model=model, on_failure=record_failure, on_start=release_memory)

    interactions, items, users, edges = on_model(index_data)(
        validated, raw_items, raw_users, raw_edges, config.data.funnel
    )
    train, valid, test = on_model(split_data)(interactions, config.split)
    item_texts, user_texts = on_model(build_texts)(items, users, train, config.text)
    item_embeddings, user_embeddings = on_model(encode_texts)(
        item_texts, user_texts, config.encoder
    )
    item_topics, user_interests = on_model(mine_interests)(
        items, users, item_embeddings, train, valid, test, config.interests
    )
    recommender, training_history, id_only = on_model(train_model)(
        train,
        valid,
        test,
        users,
        items,
        item_embeddings,
        user_embeddings,
        config.model,
        config.training,
        config.evaluation,
        edges,
        item_topics,
    )
    # The refits (training.refit_from: the evaluated model trained on, or a fresh one), on
    # train + valid (scored on test: the serving view) and on everything (served, never
    # scored). Without them, the serving view scores the evaluated model itself (reading
    # train + valid).
    refit = config.training.refit == "all"
    serving_view_model = served_model = recommender
    if refit:
        serving_view_model, served_model = on_model(refit_model)(
            train,
            valid,
            test,
            users,
            items,
            item_embeddings,
            user_embeddings,
            config.model,
            config.training,
            training_history,
            recommender,
            edges,
            item_topics,
        )
    metrics, _, _ = on_model(evaluate_model)(
        recommender=recommender,
        serving_view_recommender=serving_view_model,
        serving_view_refit=refit,
        train=train,
        valid=valid,
        test=test,
        users=users,
        items=items,
        config=config.evaluation,
        model_config=config.model,
        seed=config.training.seed,
        edges=edges,
        item_embeddings=item_embeddings,
        topics=item_topics,
        rerank=config.rerank,
        interests=config.interests,
    )
    on_model(describe_interests)(served_model, item_topics, user_interests)
    _, drift_summary = on_model(report_drift)(
        train, test, items, users, config.drift, item_embeddings
    )
    decision, _ = on_model(register_model)(
        metrics, drift_summary, config, recommender, train, valid, test, users, items
    )
    on_model(render_report)(
        metrics,
        training_history,
        drift_summary,
        decision,
        config.evaluation.ks,
        id_only,
        item_topics,
        user_interests,
    )
    return decision, metrics
