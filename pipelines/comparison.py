"""The comparison pipeline: the training pipeline's data steps, then one step per variant
and one per baseline, all scored on the same split with the same evaluator."""

import re
from typing import Any

from zenml import pipeline

from mtrec.config import RunConfig
from mtrec.workflows.comparison import variant_configs
from steps.data.index_data import index_data
from steps.data.load_data import load_data
from steps.data.split_data import split_data
from steps.data.validate_data import validate_data
from steps.evaluation.evaluate_variant import evaluate_variant
from steps.evaluation.score_baseline import score_baseline
from steps.features.build_texts import build_texts
from steps.features.encode_texts import encode_texts
from steps.features.mine_interests import mine_interests
from steps.hooks import record_failure, release_memory


def _slug(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def variant_step_id(name: str) -> str:
    """The step id of variant ``name``, fixed by the name so that a rerun finds the same
    steps: ``ple+uncertainty, no text`` -> ``variant_ple_uncertainty_no_text``."""
    return f"variant_{_slug(name)}"


def baseline_step_id(name: str) -> str:
    """The step of baseline ``name``: ``baseline_<name>``."""
    return f"baseline_{_slug(name)}"


@pipeline(on_failure=record_failure, on_start=release_memory)
def comparison_pipeline(
    config: RunConfig,
    data_fingerprint: str,
    variants: dict[str, dict[str, Any]],
    baselines: list[str],
) -> None:
    """Score every baseline and train and score every variant (name -> overrides of the
    run's ``model`` and ``training`` sections, see
    :func:`mtrec.workflows.comparison.default_variants`) on one split: each step's
    ``comparison_row`` artifact is its row of the comparison.

    Resuming is ZenML's cache: a step's key covers its inputs (the data steps' artifacts,
    which change with the data, validation, split, text templates and encoder), its
    parameters (the variant's effective sections) and the library code
    (``LIBRARY_CACHE_POLICY``), so a rerun after an interruption, or with one more variant,
    runs only the steps not yet finished with those inputs.
    """
    raw_interactions, raw_items, raw_users, raw_edges = load_data(config.data, data_fingerprint)
    _, _, validated = validate_data(
        raw_interactions, raw_items, config.validation, config.label_columns(), config.data.funnel
    )
    interactions, items, users, edges = index_data(
        validated, raw_items, raw_users, raw_edges, config.data.funnel
    )
    train, valid, test = split_data(interactions, config.split)
    item_texts, user_texts = build_texts(items, users, train, config.text)
    item_embeddings, user_embeddings = encode_texts(item_texts, user_texts, config.encoder)
    item_topics, _ = mine_interests(
        items, users, item_embeddings, train, valid, test, config.interests
    )
    evaluation = config.evaluation
    for name in baselines:
        score_baseline(
            name,
            train,
            valid,
            test,
            users,
            items,
            evaluation.ks,
            config.training.seed,
            evaluation.baseline_max_memory_mb,
            id=baseline_step_id(name),
        )
    for name, overrides in variants.items():
        model_config, training_config = variant_configs(config, overrides)
        evaluate_variant(
            name,
            train,
            valid,
            test,
            users,
            items,
            item_embeddings,
            user_embeddings,
            edges,
            item_topics,
            model_config,
            training_config,
            evaluation,
            id=variant_step_id(name),
        )
