"""The library's stages chained on awkward but legal data, without ZenML: string ids, no user
table, items nobody interacted with, a time split that leaves users and items cold."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from conftest import make_interactions

from mtrec.config import DriftConfig, EvaluationConfig, ModelConfig, SplitConfig, TrainingConfig
from mtrec.data.prepare import index_interactions
from mtrec.data.split import split_interactions
from mtrec.evaluation.evaluate import EvaluationData, evaluate_recommender
from mtrec.features.text import item_texts, user_texts
from mtrec.reports.drift import run_drift_report
from mtrec.workflows.fit import fit_recommender
from mtrec.workflows.inputs import ModelInputs


def test_time_split_with_cold_users_and_items_runs_end_to_end():
    interactions, items, _ = make_interactions(n_users=25, n_items=30, per_user=8, seed=3)
    # Cold items in the catalogue, and users that only appear after the test cut-off.
    items = pd.concat(
        [
            items,
            pd.DataFrame(
                {
                    "item_id": ["new-1", "new-2"],
                    "title": ["x", "y"],
                    "year": ["", ""],
                    "genres": ["", "Drama"],
                }
            ),
        ],
        ignore_index=True,
    )
    late = pd.DataFrame(
        {
            "user_id": ["late"] * 3,
            "item_id": ["i1", "i2", "new-2"],
            "rating": [5.0, 4.0, 3.0],
            "timestamp": [895_000_000, 895_000_100, 895_000_200],
        }
    )
    interactions = pd.concat([interactions, late], ignore_index=True)
    interactions = interactions.astype({"user_id": "string", "item_id": "string"})
    items = items.astype({"item_id": "string"})
    no_users = pd.DataFrame({"user_id": pd.Series([], dtype="string")})

    data = index_interactions(interactions, items, no_users)
    assert len(data.items) == 32 and len(data.users) == 26
    times = data.interactions["timestamp"]
    split = split_interactions(
        data.interactions,
        SplitConfig(
            strategy="time",
            valid_start=int(times.quantile(0.7)),
            test_start=int(times.quantile(0.85)),
        ),
    )
    assert len(split.train) + len(split.valid) + len(split.test) == len(data.interactions)
    assert "late" in set(split.test["user_id"]) and "late" not in set(split.train["user_id"])

    texts_items = item_texts(data.items, "{title} ({year}). Genres: {genres}.")
    assert texts_items.iloc[-2:].tolist() == [
        "x (unknown). Genres: unknown.",
        "y (unknown). Genres: Drama.",
    ]
    texts_users = user_texts(data.users, split.train, data.items, "likes {top_genres}", 2)
    late_idx = int(data.users.index[data.users["user_id"] == "late"][0])
    assert texts_users[late_idx] == "likes unknown"

    rng = np.random.default_rng(0)
    item_emb = rng.normal(size=(len(data.items), 8)).astype(np.float32)
    user_emb = rng.normal(size=(len(data.users), 8)).astype(np.float32)
    model_config = ModelConfig.model_validate(
        {
            "embedding_dim": 8,
            "hidden_dims": [16],
            "tower_dims": [8],
            "tasks": {
                "watch": {},
                "like": {"weight": 0.5},
                "rating": {"weight": 0.2},
                "influence": {"weight": 0.1},
            },
        }
    )
    trained, result = fit_recommender(
        split.train,
        split.valid,
        ModelInputs(item_emb, user_emb, data.users["user_id"], data.items["item_id"]),
        model_config,
        TrainingConfig(epochs=2, batch_size=64),
    )
    assert 1 <= result.best_epoch <= 2
    metrics, recommendations = evaluate_recommender(
        trained.build(),
        EvaluationData(split.train, split.valid, split.test, data.users, data.items),
        model_config.tasks,
        EvaluationConfig(ks=(5, 10), recommendations_k=10, baselines=("popularity",)),
    )
    for key in ("ndcg@10", "recall@5"):
        assert 0.0 <= metrics.test[key] <= 1.0
    assert not math.isnan(metrics.test["watch_auc"])
    assert metrics.test["influence_rmse"] >= 0.0
    top = metrics.top_users["influence"]
    assert 1 <= len(top) <= 10
    assert [row.measured for row in top] == sorted((row.measured for row in top), reverse=True)
    assert {row.user_id for row in top} <= set(data.users["user_id"])
    assert list(metrics.to_json()["top_users"]["influence"][0]) == [
        "user_id",
        "measured",
        "predicted",
        "interactions",
    ]
    assert set(recommendations["user_id"]) == set(split.test["user_id"])
    seen = pd.concat([split.train, split.valid])
    late_seen = set(seen.loc[seen["user_id"] == "late", "item_id"])
    assert not late_seen & set(recommendations.loc[recommendations["user_id"] == "late", "item_id"])

    html, summary = run_drift_report(
        split.train, split.test, data.items, None, DriftConfig(max_rows=100)
    )
    assert "<html" in html.lower() and 0 <= summary.drifted_share <= 1
