"""Model and popularity evaluation on tiny data, and the top-K recommendations frame."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_interactions

from mtrec.config import EvaluationConfig, MetricRef, ModelConfig, SplitConfig, TrainingConfig
from mtrec.data.prepare import index_interactions
from mtrec.data.split import split_interactions
from mtrec.evaluation.evaluate import (
    EvaluationData,
    EvaluationResult,
    Slices,
    evaluate_recommender,
    popularity_ranking,
    rank_split,
    recommendations_frame,
)
from mtrec.models.baselines.popularity import Popularity
from mtrec.workflows.fit import build_model
from mtrec.workflows.inputs import ModelInputs


def _frame(pairs: list[tuple[int, int]]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["user_idx", "item_idx"])


def _popularity_scores(train: pd.DataFrame, n_items: int) -> torch.Tensor:
    users, items = train["user_idx"].to_numpy(), train["item_idx"].to_numpy()
    return Popularity(users, items, n_items).scores


def test_popularity_scores_are_training_counts() -> None:
    train = _frame([(0, 2), (1, 2), (2, 2), (0, 0), (1, 0), (2, 1)])
    scores = _popularity_scores(train, n_items=5)
    assert scores.dtype == torch.float32
    assert scores.tolist() == [2.0, 1.0, 3.0, 0.0, 0.0]


def test_popularity_ranks_most_counted_items_first() -> None:
    train = _frame([(0, 2), (1, 2), (2, 2), (0, 0), (1, 0), (2, 1), (3, 4)])
    scores = _popularity_scores(train, n_items=5)
    truth = _frame([(3, 2), (0, 1), (4, 0)])
    history = train
    result = rank_split(
        lambda users: scores.expand(len(users), 5), 5, truth, history, (1, 2), keep_top=2
    )
    assert result.top_items is not None
    # User 0 saw 2 and 0 -> 1 then (3 or 4); user 3 saw 4 -> 2, 0; user 4 saw nothing -> 2, 0.
    assert result.top_items[:, 0].tolist() == [1, 2, 2]
    assert result.top_items[1:, 1].tolist() == [0, 0]
    assert result.top_items[0, 1] in (3, 4)

    ranking = popularity_ranking(train, truth, history, 5, (1, 2))
    assert ranking.per_user["users"].tolist() == [0, 3, 4]
    assert ranking.per_user["hit@1"].tolist() == [1.0, 1.0, 0.0]
    assert ranking.per_user["hit@2"].tolist() == [1.0, 1.0, 1.0]
    assert ranking.metrics["mrr@2"] == pytest.approx((1 + 1 + 0.5) / 3)


def test_recommendations_frame_uses_original_ids() -> None:
    frame = recommendations_frame(
        np.array([2, 0]),
        np.array([[1, 0, 3], [3, 2, 1]]),
        pd.Series(["u0", "u1", "u2"]),
        pd.Series(["a", "b", "c", "d"]),
    )
    assert list(frame.columns) == ["user_id", "item_id", "rank"]
    assert frame["user_id"].tolist() == ["u2"] * 3 + ["u0"] * 3
    assert frame["item_id"].tolist() == ["b", "a", "d", "d", "c", "b"]
    assert frame["rank"].tolist() == [1, 2, 3, 1, 2, 3]


@pytest.fixture(scope="module")
def evaluated():
    interactions, items, users = make_interactions(n_users=20, n_items=40, per_user=12)
    data = index_interactions(interactions, items, users)
    split = split_interactions(data.interactions, SplitConfig(ratios=(0.7, 0.15, 0.15)))
    rng = np.random.default_rng(0)
    item_emb = rng.normal(size=(len(data.items), 8)).astype(np.float32)
    user_emb = rng.normal(size=(len(data.users), 8)).astype(np.float32)
    torch.manual_seed(0)
    config = ModelConfig(embedding_dim=8, hidden_dims=(16,), tower_dims=(8,), dropout=0.0)
    model = build_model(config, split.train, item_emb, user_emb)
    metrics, recommendations = evaluate_recommender(
        model,
        EvaluationData(split.train, split.valid, split.test, data.users, data.items),
        ModelConfig().tasks,
        EvaluationConfig(ks=(5, 10), recommendations_k=10, baselines=("popularity",)),
    )
    return data, split, metrics, recommendations


def test_evaluate_recommender_metrics(evaluated) -> None:
    _, split, metrics, _ = evaluated
    # metrics.json's keys: the sections not computed here are left out.
    assert list(metrics.to_json()) == [
        "beyond_accuracy",
        "valid",
        "test",
        "baselines",
        "baselines_valid",
        "baseline_params",
        "slices",
    ]
    assert metrics.serving is None and metrics.rerank is None and metrics.interest is None
    assert metrics.baselines_skipped == {} and metrics.top_users == {}
    # Popularity on valid, for the promotion floor: the same value its tuning measured.
    popularity_valid = metrics.baselines_valid["popularity"]
    assert set(popularity_valid) == set(metrics.valid)
    assert popularity_valid["ndcg@10"] == pytest.approx(
        metrics.baseline_params["popularity"].valid_ndcg
    )
    assert 0.0 < popularity_valid["ndcg@10"] <= 1.0
    assert (
        metrics.baseline_value("popularity", MetricRef.parse("valid.ndcg@10"))
        == (popularity_valid["ndcg@10"])
    )
    assert metrics.value(MetricRef.parse("test.ndcg@5")) == metrics.test["ndcg@5"]
    assert metrics.value(MetricRef.parse("valid.like_auc")) is None
    beyond = metrics.beyond_accuracy
    assert 0.0 < beyond["coverage"] <= 1.0 and 0.0 <= beyond["gini"] <= 1.0
    assert beyond["novelty"] >= 0.0 and "intra_list_diversity" not in beyond  # no embeddings
    activity = metrics.slices.user_activity
    assert sum(b.count for b in activity) == split.test["user_idx"].nunique()
    popularity = metrics.slices.item_popularity
    assert sum(b.count for b in popularity) == len(split.test)
    cold = metrics.slices.cold_items
    assert cold is not None and cold.max_train_interactions == 5
    assert set(metrics.baselines) == {"popularity"}
    ranking = {f"{m}@{k}" for k in (5, 10) for m in ("recall", "ndcg", "hit", "mrr")}
    assert set(metrics.valid) == ranking
    assert set(metrics.baselines["popularity"]) == ranking
    assert set(metrics.test) == ranking | {"watch_auc", "like_auc", "rating_rmse"}
    for part in (metrics.valid, metrics.test, metrics.baselines["popularity"]):
        for name in ranking:
            assert 0.0 <= part[name] <= 1.0, name
        assert part["hit@5"] <= part["hit@10"]
        assert part["recall@5"] <= part["recall@10"]
    assert 0.0 <= metrics.test["watch_auc"] <= 1.0
    assert 0.0 <= metrics.test["like_auc"] <= 1.0
    assert metrics.test["rating_rmse"] > 0.0


def test_the_result_keeps_metrics_json_keys_and_survives_json_with_nan(evaluated) -> None:
    _, _, metrics, _ = evaluated
    dumped = metrics.to_json()
    slices = dumped["slices"]
    assert list(slices) == ["cold_items", "user_activity_ndcg@10", "item_popularity_hit@10"]
    assert slices["user_activity_ndcg@10"][0] == {
        "bucket": metrics.slices.user_activity[0].bucket,
        "count": metrics.slices.user_activity[0].count,
        "value": metrics.slices.user_activity[0].value,
    }
    tuning = dumped["baseline_params"]["popularity"]
    assert list(tuning) == ["name", "params", "valid_ndcg", "grid", "seconds"]
    assert tuning["grid"] == [{"params": {}, "ndcg@10": tuning["valid_ndcg"]}]
    # A NaN metric (an AUC without both labels) comes back from the artifact's JSON as NaN.
    with_nan = metrics.model_copy(update={"test": {**metrics.test, "like_auc": float("nan")}})
    text = with_nan.model_dump_json()
    assert '"like_auc":NaN' in text
    loaded = EvaluationResult.model_validate_json(text)
    assert math.isnan(loaded.test["like_auc"])
    assert loaded.model_dump(exclude={"test"}) == metrics.model_dump(exclude={"test"})
    # As ZenML's materializer stores it (json.dumps of the JSON-mode dump), and by field name.
    stored = json.loads(json.dumps(with_nan.model_dump(mode="json")))
    assert EvaluationResult.model_validate(stored).slices == metrics.slices
    by_name = Slices(user_activity=[{"bucket": "1-2", "count": 3, "value": 0.5}])
    assert by_name.model_dump()["user_activity_ndcg@10"][0]["count"] == 3


def test_evaluate_recommender_recommendations(evaluated) -> None:
    data, split, _, recommendations = evaluated
    assert list(recommendations.columns) == ["user_id", "item_id", "rank"]
    test_users = set(split.test["user_id"])
    assert set(recommendations["user_id"]) == test_users
    assert set(recommendations["item_id"]) <= set(data.items["item_id"])
    assert recommendations["item_id"].str.startswith("i").all()  # original ids, not indices
    for _, group in recommendations.groupby("user_id"):
        assert group["rank"].tolist() == list(range(1, 11))
        assert group["item_id"].is_unique
    history = pd.concat([split.train, split.valid])
    seen = set(zip(history["user_id"], history["item_id"], strict=True))
    pairs = zip(recommendations["user_id"], recommendations["item_id"], strict=True)
    assert not any(pair in seen for pair in pairs)


def test_cold_item_slice_keeps_only_rarely_trained_items():
    from mtrec.config import ModelConfig
    from mtrec.evaluation.evaluate import cold_item_slice
    from mtrec.workflows.fit import build_model

    train = pd.DataFrame(
        {
            "user_idx": [0, 0, 1, 1, 2, 2, 2],
            "item_idx": [0, 1, 0, 1, 0, 1, 2],
            "rating": [5.0] * 7,
            "timestamp": range(7),
        }
    )
    test = pd.DataFrame(
        {"user_idx": [0, 1, 2], "item_idx": [2, 3, 1], "rating": [4.0] * 3, "timestamp": [9] * 3}
    )
    rng = np.random.default_rng(0)
    model = build_model(
        ModelConfig(embedding_dim=4, hidden_dims=(8,), tower_dims=(4,)),
        train,
        rng.normal(size=(5, 6)).astype(np.float32),
        rng.normal(size=(3, 6)).astype(np.float32),
    )
    result = cold_item_slice(model, train, test, train, (2,), max_train=1)
    # item 2 has one training interaction and item 3 none: user 2's item 1 (3 trainings) is out.
    assert result.interactions == 2 and result.users == 2
    assert result.model is not None and result.popularity is not None
    assert set(result.model) == {"recall@2", "ndcg@2", "hit@2", "mrr@2"}
    assert 0.0 <= result.popularity["ndcg@2"] <= 1.0
    empty = cold_item_slice(model, train, test, train, (2,), max_train=-1)
    assert empty.interactions == 0 and empty.model is None
    # metrics.json leaves the rankings out of an empty slice, as it always has.
    assert Slices(cold_items=empty).model_dump(exclude_none=True)["cold_items"] == {
        "max_train_interactions": -1,
        "interactions": 0,
        "users": 0,
    }


def test_the_serving_view_reads_train_and_valid_and_scores_only_test() -> None:
    from mtrec.evaluation.evaluate import ServingView
    from mtrec.workflows.fit import refit_recommender

    interactions, items, users = make_interactions(n_users=20, n_items=30, per_user=10)
    indexed = index_interactions(interactions, items, users)
    split = split_interactions(indexed.interactions, SplitConfig(ratios=(0.7, 0.15, 0.15)))
    config = ModelConfig(
        architecture="shared_bottom",
        embedding_dim=8,
        hidden_dims=(16,),
        tower_dims=(8,),
        history_length=5,
    )
    rng = np.random.default_rng(0)
    item_text = rng.normal(size=(len(indexed.items), 6)).astype(np.float32)
    user_text = rng.normal(size=(len(indexed.users), 6)).astype(np.float32)
    model = build_model(config, split.train, item_text, user_text)
    known = pd.concat([split.train, split.valid])
    refit, _ = refit_recommender(
        known,
        ModelInputs(item_text, user_text, indexed.users["user_id"], indexed.items["item_id"]),
        config,
        TrainingConfig(refit_from="scratch"),
        1,
    )
    serving = ServingView(refit.build())
    metrics, _ = evaluate_recommender(
        model,
        EvaluationData(split.train, split.valid, split.test, indexed.users, indexed.items),
        config.tasks,
        EvaluationConfig(
            ks=(10,), recommendations_k=5, baselines=("popularity", "itemknn", "ease")
        ),
        serving=serving,
    )
    view = metrics.serving
    assert view is not None and view.refit is True and view.history == "train+valid"
    assert set(view.baselines) == {"popularity", "itemknn", "ease"}
    assert 0.0 <= view.test["ndcg@10"] <= 1.0
    assert list(metrics.to_json()["serving"]) == ["history", "test", "baselines", "refit"]
    # The refit model reads exactly train + valid: no test interaction in its history.
    served = serving.model
    assert served is not None and len(served.history_items) == len(known)
    lists = serving.recommendations
    assert lists is not None and lists.groupby("user_id").size().max() == 5
    # No list repeats an interaction the user already had in train or valid.
    seen = set(zip(known["user_id"].astype(str), known["item_id"].astype(str), strict=True))
    assert not seen & set(
        zip(lists["user_id"].astype(str), lists["item_id"].astype(str), strict=True)
    )
    # Popularity refit on train + valid is scored like the RecBole view's, on the same test.
    assert metrics.baselines["popularity"]["ndcg@10"] >= 0.0
    # Not refit: the evaluated model itself, reading train + valid.
    unrefit = ServingView()
    metrics, _ = evaluate_recommender(
        model,
        EvaluationData(split.train, split.valid, split.test, indexed.users, indexed.items),
        config.tasks,
        EvaluationConfig(ks=(10,), recommendations_k=5, baselines=("popularity",)),
        serving=unrefit,
    )
    assert metrics.serving is not None and metrics.serving.refit is False
    assert len(model.history_items) == len(split.train)  # the evaluated model is untouched


@pytest.fixture(scope="module")
def reranked():
    """The tiny model evaluated without re-ranking, with method none and with MMR."""
    from mtrec.config import RerankConfig
    from mtrec.evaluation.interests import fit_topics

    interactions, items, users = make_interactions(n_users=20, n_items=40, per_user=12)
    data = index_interactions(interactions, items, users)
    split = split_interactions(data.interactions, SplitConfig(ratios=(0.7, 0.15, 0.15)))
    rng = np.random.default_rng(0)
    item_emb = rng.normal(size=(len(data.items), 8)).astype(np.float32)
    user_emb = rng.normal(size=(len(data.users), 8)).astype(np.float32)
    torch.manual_seed(0)
    config = ModelConfig(embedding_dim=8, hidden_dims=(16,), tower_dims=(8,), dropout=0.0)
    model = build_model(config, split.train, item_emb, user_emb)
    topics = fit_topics(item_emb, data.items, k=4, seed=0)

    def run(rerank: RerankConfig | None) -> tuple[EvaluationResult, pd.DataFrame]:
        return evaluate_recommender(
            model,
            EvaluationData(
                split.train,
                split.valid,
                split.test,
                data.users,
                data.items,
                item_embeddings=item_emb,
                topics=topics if rerank is not None else None,
            ),
            config.tasks,
            EvaluationConfig(ks=(5, 10), recommendations_k=8, baselines=("popularity",)),
            rerank=rerank,
        )

    grid = (0.0, 0.5, 0.9)
    return {
        "split": split,
        "plain": run(None),
        "none": run(RerankConfig(method="none", grid=grid)),
        "mmr": run(RerankConfig(method="mmr", lam=0.9, candidates=20, grid=grid)),
    }


def test_rerank_none_gives_todays_lists_and_adds_the_tradeoff(reranked) -> None:
    plain_metrics, plain_lists = reranked["plain"]
    metrics, lists = reranked["none"]
    assert plain_metrics.rerank is None and "rerank" not in plain_metrics.to_json()
    pd.testing.assert_frame_equal(lists, plain_lists)
    timed = {"rerank", "baseline_params"}  # baseline tuning records its seconds
    assert metrics.model_dump(exclude=timed) == plain_metrics.model_dump(exclude=timed)
    assert metrics.rerank is not None
    rows = metrics.rerank["rows"]
    assert [(r["method"], r["lam"]) for r in rows] == [
        (m, lam) for m in ("mmr", "dpp", "calibrated") for lam in (0.0, 0.5, 0.9)
    ]
    beyond = plain_metrics.beyond_accuracy
    for row in (r for r in rows if r["lam"] == 0.0):
        assert row["ndcg"] == pytest.approx(plain_metrics.test["ndcg@10"])
        assert row["recall"] == pytest.approx(plain_metrics.test["recall@10"])
        assert row["coverage"] == pytest.approx(beyond["coverage"])
        assert row["intra_list_diversity"] == pytest.approx(beyond["intra_list_diversity"])
        assert row["gini"] == pytest.approx(beyond["gini"])


def test_rerank_mmr_serves_more_diverse_unseen_lists(reranked) -> None:
    split = reranked["split"]
    _, plain_lists = reranked["plain"]
    metrics, lists = reranked["mmr"]
    assert metrics.rerank is not None
    assert metrics.rerank["method"] == "mmr" and metrics.rerank["lambda"] == 0.9
    assert set(lists["user_id"]) == set(plain_lists["user_id"])
    assert lists.groupby("user_id")["item_id"].nunique().eq(8).all()
    assert lists["item_id"].tolist() != plain_lists["item_id"].tolist()
    history = pd.concat([split.train, split.valid])
    seen = set(zip(history["user_id"], history["item_id"], strict=True))
    assert not seen & set(zip(lists["user_id"], lists["item_id"], strict=True))
    rows = {(r["method"], r["lam"]): r for r in metrics.rerank["rows"]}
    assert rows["mmr", 0.9]["intra_list_diversity"] > rows["mmr", 0.0]["intra_list_diversity"]


def test_rerank_needs_embeddings_and_topics() -> None:
    from mtrec.config import RerankConfig

    frame = pd.DataFrame({"user_idx": [0], "item_idx": [0]})
    with pytest.raises(ValueError, match="item_embeddings and topics"):
        evaluate_recommender(
            None,  # type: ignore[arg-type]
            EvaluationData(frame, frame, frame, frame, frame),
            {},
            EvaluationConfig(),
            rerank=RerankConfig(),
        )
