"""Batch recommendations: seen items excluded, unknown users get popularity, labelled."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import bare_spec

from mtrec.models.serialization import TrainedModel
from mtrec.models.shared_bottom import SharedBottomRecommender
from mtrec.registry.recommend import recommend


def _trained() -> TrainedModel:
    torch.manual_seed(0)
    spec = bare_spec(
        n_users=3,
        n_items=6,
        user_text_dim=4,
        item_text_dim=4,
        embedding_dim=4,
        hidden_dims=(8,),
        tower_dims=(4,),
    )
    network = SharedBottomRecommender(spec, torch.randn(3, 4), torch.randn(6, 4))
    return TrainedModel(
        spec, dict(network.state_dict()), ("a", "b", "c"), tuple(f"i{n}" for n in range(6))
    )


def test_known_users_get_unseen_model_ranked_items_and_unknown_get_popularity():
    trained = _trained()
    history = pd.DataFrame(
        {"user_id": ["a", "a", "b", "c", "c", "c"], "item_id": ["i0", "i1", "i1", "i1", "i2", "i5"]}
    )
    frame = recommend(trained, history, k=3, user_ids=["a", "zed"])
    assert list(frame.columns) == ["user_id", "item_id", "rank", "score", "source"]
    a = frame[frame["user_id"] == "a"]
    assert a["rank"].tolist() == [1, 2, 3] and set(a["source"]) == {"model"}
    assert not {"i0", "i1"} & set(a["item_id"])
    assert a["score"].is_monotonic_decreasing
    scores = trained.build().score_items(torch.tensor([0]))[0].detach().numpy()
    scores[[0, 1]] = -np.inf
    assert a["item_id"].tolist() == [f"i{n}" for n in np.argsort(-scores)[:3]]
    zed = frame[frame["user_id"] == "zed"]
    assert set(zed["source"]) == {"popularity"}
    assert zed["item_id"].tolist()[:1] == ["i1"]  # seen by three users


def test_all_known_users_by_default_and_k_is_checked():
    trained = _trained()
    frame = recommend(trained, pd.DataFrame({"user_id": [], "item_id": []}), k=10)
    assert frame.groupby("user_id").size().to_dict() == {"a": 6, "b": 6, "c": 6}  # k capped
    with pytest.raises(ValueError, match="k must be positive"):
        recommend(trained, pd.DataFrame({"user_id": [], "item_id": []}), k=0)


def test_unknown_users_with_a_profile_are_scored_from_its_text():
    torch.manual_seed(0)
    spec = bare_spec(
        n_users=3,
        n_items=6,
        user_text_dim=4,
        item_text_dim=4,
        embedding_dim=4,
        hidden_dims=(8,),
        tower_dims=(4,),
    )
    user_text = torch.randn(3, 4)
    # User "c" never trained (id weight 0): it is scored exactly like a profile-only user.
    network = SharedBottomRecommender(
        spec, user_text, torch.randn(6, 4), user_seen=torch.tensor([1.0, 1.0, 0.0])
    )
    network.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            network.score_text_users(user_text[2:3]), network.score_items(torch.tensor([2]))
        )
    trained = TrainedModel(
        spec, dict(network.state_dict()), ("a", "b", "c"), tuple(f"i{n}" for n in range(6))
    )
    history = pd.DataFrame({"user_id": ["a"], "item_id": ["i0"]})
    profile = {"newcomer": user_text[2].numpy()}
    frame = recommend(trained, history, k=2, user_ids=["newcomer", "stranger"], profiles=profile)
    by_user = frame.groupby("user_id")["source"].first().to_dict()
    assert by_user == {"newcomer": "profile", "stranger": "popularity"}
    with torch.no_grad():
        expected = torch.topk(network.score_items(torch.tensor([2]))[0], 2).indices.tolist()
    newcomer = frame[frame["user_id"] == "newcomer"]
    assert newcomer["item_id"].tolist() == [f"i{n}" for n in expected]


def _two_topic_model() -> TrainedModel:
    """Six items in two text directions (i0-i2, i3-i5) and three users."""
    torch.manual_seed(0)
    spec = bare_spec(
        n_users=3,
        n_items=6,
        user_text_dim=4,
        item_text_dim=2,
        embedding_dim=4,
        hidden_dims=(8,),
        tower_dims=(4,),
    )
    item_text = torch.tensor(
        [[1.0, 0.0], [0.9, 0.1], [1.0, 0.1], [0.0, 1.0], [0.1, 0.9], [0.1, 1.0]]
    )
    network = SharedBottomRecommender(spec, torch.randn(3, 4), item_text)
    return TrainedModel(
        spec, dict(network.state_dict()), ("a", "b", "c"), tuple(f"i{n}" for n in range(6))
    )


ITEMS = pd.DataFrame(
    {
        "item_id": [f"i{n}" for n in (5, 4, 3, 2, 1, 0)],  # out of order: matched by id
        "title": [
            "Dead Night",
            "Night Dead",
            "Dead House",
            "Love Story",
            "Story Love",
            "Love Letter",
        ],
        "genres": ["Horror"] * 3 + ["Romance"] * 3,
    }
)


def test_served_topics_cluster_the_models_item_text_and_name_them_from_items():
    from mtrec.config import InterestsConfig
    from mtrec.registry.recommend import item_text_embeddings, served_topics

    trained = _two_topic_model()
    assert item_text_embeddings(trained).shape == (6, 2)
    topics = served_topics(trained, ITEMS, InterestsConfig(topics=2, seed=0))
    romance, horror = topics.assignment[0], topics.assignment[3]
    assert list(topics.assignment) == [romance] * 3 + [horror] * 3 and romance != horror
    assert topics.labels[romance].startswith("Romance")
    assert topics.labels[horror].startswith("Horror")
    numbered = served_topics(trained, None, InterestsConfig(topics=50, seed=0))
    assert numbered.n_topics == 6 and numbered.labels[0].startswith("untitled topic")


def test_explain_adds_a_reason_per_row_from_recent_topic_shares():
    from mtrec.config import InterestsConfig
    from mtrec.registry.recommend import served_topics

    trained = _two_topic_model()
    topics = served_topics(trained, ITEMS, InterestsConfig(topics=2, seed=0))
    romance = topics.labels[topics.assignment[0]]
    horror = topics.labels[topics.assignment[3]]
    # User a: three romance interactions long ago, then one horror; recent_n=2 keeps the
    # newest two (one of each). User b: only romance. "zed" is unknown: popularity, no history.
    history = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "a", "b"],
            "item_id": ["i0", "i1", "i3", "i2", "i1"],
            "timestamp": [1, 2, 4, 3, 5],
        }
    )
    frame = recommend(
        trained,
        history,
        k=2,
        user_ids=["a", "b", "zed"],
        topics=topics,
        explain_items=True,
        interests=InterestsConfig(recent_n=2),
    )
    assert list(frame.columns) == ["user_id", "item_id", "rank", "score", "source", "reason"]
    assert len(frame) == 6 and frame["reason"].str.len().gt(0).all()
    topic_of = {f"i{n}": topics.assignment[n] for n in range(6)}
    for row in frame.itertuples():
        label = topics.labels[topic_of[row.item_id]]
        if row.user_id == "a":  # the newest two: i3 (horror, t=4) and i2 (romance, t=3)
            assert row.reason == f"{label}: 50% of your recent history"
        elif row.user_id == "b":
            expected = (
                f"{romance}: 100% of your recent history"
                if label == romance
                else f"new for you: {horror}"
            )
            assert row.reason == expected
        else:
            assert row.reason == f"new for you: {label}"
    plain = recommend(trained, history, k=2, user_ids=["a", "b", "zed"])
    assert "reason" not in plain.columns
    pd.testing.assert_frame_equal(frame.drop(columns="reason"), plain)
    with pytest.raises(ValueError, match="topics"):
        recommend(trained, history, k=2, explain_items=True)


def test_recommend_reranks_with_the_config_like_evaluation():
    from mtrec.config import InterestsConfig, RerankConfig
    from mtrec.evaluation.diversity import final_lists
    from mtrec.registry.recommend import item_text_embeddings, served_topics

    trained = _two_topic_model()
    history = pd.DataFrame({"user_id": ["a", "b"], "item_id": ["i0", "i3"]})
    plain = recommend(trained, history, k=3)
    rerank = RerankConfig(method="mmr", lam=0.9, candidates=5)
    frame = recommend(trained, history, k=3, rerank=rerank)
    scores = trained.build().score_items(torch.tensor([0, 1, 2])).detach()
    scores[0, 0] = scores[1, 3] = -torch.inf
    expected = final_lists(scores, 3, rerank, item_text_embeddings(trained)).numpy()
    assert frame["item_id"].tolist() == [f"i{n}" for n in expected.reshape(-1)]
    assert frame["score"].tolist() == pytest.approx(
        scores.gather(1, torch.from_numpy(expected)).reshape(-1).tolist()
    )
    assert not {("a", "i0"), ("b", "i3")} & set(
        zip(frame["user_id"], frame["item_id"], strict=True)
    )
    # At lambda 0.9 every list spans both text directions; the plain top-3 need not.
    for _, group in frame.groupby("user_id"):
        assert {int(i[1:]) < 3 for i in group["item_id"]} == {True, False}
    assert len(plain) == len(frame)
    with pytest.raises(ValueError, match="topics"):
        recommend(trained, history, k=3, rerank=RerankConfig(method="calibrated", lam=0.5))
    topics = served_topics(trained, ITEMS, InterestsConfig(topics=2, seed=0))
    calibrated = recommend(
        trained, history, k=2, topics=topics, rerank=RerankConfig(method="calibrated", lam=1.0)
    )
    # User a's only topic is romance (i0): a calibrated list of two is all romance.
    a_items = calibrated.loc[calibrated["user_id"] == "a", "item_id"]
    assert {topics.assignment[int(i[1:])] for i in a_items} == {topics.assignment[0]}
