"""Baselines: popularity counts, ItemKNN cosine neighbours, BPR-MF learning a planted signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mtrec.evaluation.evaluate import BASELINES, build_baseline, rank_split
from mtrec.models.baselines.itemknn import ItemKNN
from mtrec.models.baselines.popularity import Popularity


def test_popularity_scores_are_training_counts():
    scores = Popularity(np.array([0, 1, 1, 2]), np.array([2, 2, 0, 2]), 4).score_items(
        torch.tensor([0, 1])
    )
    assert scores.tolist() == [[1.0, 0.0, 3.0, 0.0]] * 2


def test_itemknn_cosine_similarity_and_scores():
    # user 0: items 0,1; user 1: items 0,1,2; user 2: item 2.
    users, items = np.array([0, 0, 1, 1, 1, 2]), np.array([0, 1, 0, 1, 2, 2])
    knn = ItemKNN(users, items, n_users=3, n_items=3, k=2, shrink=0.0)
    sim = knn.similarity
    assert float(sim[0, 1]) == pytest.approx(2 / (2**0.5 * 2**0.5))  # co-seen by 2 users
    assert float(sim[0, 2]) == pytest.approx(1 / (2**0.5 * 2**0.5))
    assert float(sim[0, 0]) == 0.0
    scores = knn.score_items(torch.tensor([2]))  # history {2}: sim(i, 2)
    torch.testing.assert_close(scores[0], sim[2])
    sparse = ItemKNN(users, items, n_users=3, n_items=3, k=1, shrink=0.0).similarity
    assert int((sparse[0] > 0).sum()) == 1 and float(sparse[0, 1]) > 0


def _planted(n_users: int = 30, n_items: int = 20, seed: int = 0) -> tuple[pd.DataFrame, ...]:
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        liked = np.arange(0, 10) if user % 2 == 0 else np.arange(10, 20)
        for t, item in enumerate(rng.choice(liked, size=8, replace=False)):
            rows.append((user, int(item), 5.0, t))
    frame = pd.DataFrame(rows, columns=["user_idx", "item_idx", "rating", "timestamp"])
    train = frame.groupby("user_idx").head(6)
    return train, frame.drop(train.index)


@pytest.mark.parametrize("name", ["itemknn", "bpr"])
def test_collaborative_baselines_find_the_planted_groups(name):
    train, test = _planted()
    scorer = build_baseline(name, train, 30, 20, seed=0)
    metrics = rank_split(scorer, 20, test, train, (4,)).metrics
    # The 2 held-out items are among the 4 unseen items of the user's group of 10 candidates.
    assert metrics["recall@4"] > 0.8
    popularity = rank_split(build_baseline("popularity", train, 30, 20), 20, test, train, (4,))
    assert metrics["ndcg@4"] > popularity.metrics["ndcg@4"]


def test_unknown_baseline_is_refused():
    assert set(BASELINES) == {"popularity", "itemknn", "bpr"}
    with pytest.raises(ValueError, match="unknown baseline"):
        build_baseline("svd", pd.DataFrame({"user_idx": [0], "item_idx": [0]}), 1, 1)
