"""Batch recommendations: seen items excluded, unknown users get popularity, labelled."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mtrec.models.base import ModelSpec
from mtrec.models.serialization import TrainedModel
from mtrec.models.shared_bottom import SharedBottomRecommender
from mtrec.registry.recommend import recommend


def _trained() -> TrainedModel:
    torch.manual_seed(0)
    spec = ModelSpec(n_users=3, n_items=6, user_text_dim=4, item_text_dim=4, embedding_dim=4,
                     hidden_dims=(8,), tower_dims=(4,))  # fmt: skip
    network = SharedBottomRecommender(spec, torch.randn(3, 4), torch.randn(6, 4))
    return TrainedModel(spec, dict(network.state_dict()), ("a", "b", "c"),
                        tuple(f"i{n}" for n in range(6)))  # fmt: skip


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
    spec = ModelSpec(n_users=3, n_items=6, user_text_dim=4, item_text_dim=4, embedding_dim=4,
                     hidden_dims=(8,), tower_dims=(4,))  # fmt: skip
    user_text = torch.randn(3, 4)
    # User "c" never trained (id weight 0): it is scored exactly like a profile-only user.
    network = SharedBottomRecommender(spec, user_text, torch.randn(6, 4),
                                      user_seen=torch.tensor([1.0, 1.0, 0.0]))  # fmt: skip
    network.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            network.score_text_users(user_text[2:3]), network.score_items(torch.tensor([2]))
        )
    trained = TrainedModel(spec, dict(network.state_dict()), ("a", "b", "c"),
                           tuple(f"i{n}" for n in range(6)))  # fmt: skip
    history = pd.DataFrame({"user_id": ["a"], "item_id": ["i0"]})
    profile = {"newcomer": user_text[2].numpy()}
    frame = recommend(trained, history, k=2, user_ids=["newcomer", "stranger"], profiles=profile)
    by_user = frame.groupby("user_id")["source"].first().to_dict()
    assert by_user == {"newcomer": "profile", "stranger": "popularity"}
    with torch.no_grad():
        expected = torch.topk(network.score_items(torch.tensor([2]))[0], 2).indices.tolist()
    newcomer = frame[frame["user_id"] == "newcomer"]
    assert newcomer["item_id"].tolist() == [f"i{n}" for n in expected]
