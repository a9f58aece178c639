"""The training pipeline: validate, split, encode text, train, evaluate, report, register."""

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
from steps.hooks import record_failure
from steps.registry.register_model import register_model
from steps.reports.render_report import render_report
from steps.reports.report_drift import report_drift
from steps.training.refit_model import refit_model
from steps.training.train_model import train_model


@pipeline(on_failure=record_failure)
def training_pipeline(config: RunConfig, data_fingerprint: str, model_version: str) -> None:
    """Train and register one multi-task recommender.

    Steps after validation carry the ZenML model, so a run that fails validation creates no
    model version; ``model_version`` names the version after the data, config and code, so a
    rerun of the same inputs reuses its version instead of adding a duplicate.
    """
    model = Model(
        name=config.registry.model_name,
        version=model_version,
        description="Multi-task recommender with language-model text features",
        tags=["mtrec", config.data.source],
    )
    raw_interactions, raw_items, raw_users, raw_edges = load_data(config.data, data_fingerprint)
    _, _, validated = validate_data(
        raw_interactions, raw_items, config.validation, config.label_columns(), config.data.funnel
    )
    interactions, items, users, edges = index_data.with_options(model=model)(
        validated, raw_items, raw_users, raw_edges, config.data.funnel
    )
    train, valid, test = split_data.with_options(model=model)(interactions, config.split)
    item_texts, user_texts = build_texts.with_options(model=model)(items, users, train, config.text)
    item_embeddings, user_embeddings = encode_texts.with_options(model=model)(
        item_texts, user_texts, config.encoder
    )
    item_topics, user_interests = mine_interests.with_options(model=model)(
        items, users, item_embeddings, train, valid, test, config.interests
    )
    recommender, training_history, id_only = train_model.with_options(model=model)(
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
    # The refits: the same configuration for the chosen number of epochs, on train + valid
    # (scored on test: the serving view) and on everything (served, never scored). Without
    # them, the serving view scores the evaluated model itself (reading train + valid).
    refit = config.training.refit == "all"
    serving_view_model = served_model = recommender
    if refit:
        serving_view_model, served_model = refit_model.with_options(model=model)(
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
            edges,
            item_topics,
        )
    metrics, _, _ = evaluate_model.with_options(model=model)(
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
    describe_interests.with_options(model=model)(served_model, item_topics, user_interests)
    _, drift_summary = report_drift.with_options(model=model)(
        train, test, items, users, config.drift, item_embeddings
    )
    decision, _ = register_model.with_options(model=model)(
        metrics, drift_summary, config, recommender, train, valid, test, users, items
    )
    render_report.with_options(model=model)(
        metrics,
        training_history,
        drift_summary,
        decision,
        config.evaluation.ks,
        id_only,
        item_topics,
        user_interests,
    )
