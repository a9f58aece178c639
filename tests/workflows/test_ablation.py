"""The id-only ablation: the same model without text, its evaluation in metrics.json's shape."""

import json

import numpy as np
from conftest import make_interactions

from mtrec.config import EvaluationConfig, ModelConfig, SplitConfig, TrainingConfig
from mtrec.data.prepare import index_interactions
from mtrec.data.split import split_interactions
from mtrec.evaluation.results import EvaluationResult
from mtrec.workflows.ablation import id_only_ablation
from mtrec.workflows.inputs import ModelInputs


def test_id_only_ablation_is_an_evaluation_with_its_training_run() -> None:
    interactions, items, users = make_interactions(n_users=20, n_items=30, per_user=10)
    data = index_interactions(interactions, items, users)
    split = split_interactions(data.interactions, SplitConfig(ratios=(0.7, 0.15, 0.15)))
    rng = np.random.default_rng(0)
    inputs = ModelInputs(
        rng.normal(size=(len(data.items), 8)).astype(np.float32),
        rng.normal(size=(len(data.users), 8)).astype(np.float32),
        data.users["user_id"],
        data.items["item_id"],
    )
    id_only = id_only_ablation(
        split,
        data.users,
        data.items,
        inputs,
        ModelConfig(embedding_dim=8, hidden_dims=(16,), tower_dims=(8,)),
        TrainingConfig(epochs=2, batch_size=64),
        EvaluationConfig(ks=(10,), baselines=("popularity", "itemknn")),
    )
    assert list(id_only) == [
        "beyond_accuracy",
        "valid",
        "test",
        "baselines",
        "baselines_valid",
        "baseline_params",
        "slices",
        "training",
    ]
    assert 1 <= id_only["training"]["best_epoch"] <= 2 and id_only["training"]["seconds"] > 0
    # The ablation is the model against itself: popularity only, not the configured baselines.
    assert list(id_only["baselines"]) == ["popularity"]
    # Stored as a JSON artifact, it reads back as the evaluation it is.
    result = EvaluationResult.model_validate(json.loads(json.dumps(id_only)))
    assert result.test == id_only["test"] and 0.0 <= result.test["ndcg@10"] <= 1.0
    assert result.slices.cold_items is not None
    assert result.slices.cold_items.max_train_interactions == 5
