"""Baselines: popularity counts, ItemKNN cosine neighbours, EASE's closed form, BPR-MF learning a
planted signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mtrec.evaluation.evaluate import BASELINES, build_baseline, rank_split
from mtrec.models.baselines import itemknn
from mtrec.models.baselines.bpr import train_bpr
from mtrec.models.baselines.ease import EASE, ease_memory_bytes
from mtrec.models.baselines.itemknn import (
    History,
    ItemKNN,
    cosine_similarity,
    keep_neighbours,
)
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


@pytest.mark.parametrize("name", ["itemknn", "bpr", "ease"])
def test_collaborative_baselines_find_the_planted_groups(name):
    train, test = _planted()
    scorer = build_baseline(name, train, 30, 20, seed=0)
    metrics = rank_split(scorer, 20, test, train, (4,)).metrics
    # The 2 held-out items are among the 4 unseen items of the user's group of 10 candidates.
    assert metrics["recall@4"] > 0.8
    popularity = rank_split(build_baseline("popularity", train, 30, 20), 20, test, train, (4,))
    assert metrics["ndcg@4"] > popularity.metrics["ndcg@4"]


def test_unknown_baseline_is_refused():
    assert set(BASELINES) == {"popularity", "itemknn", "bpr", "ease"}
    with pytest.raises(ValueError, match="unknown baseline"):
        build_baseline("svd", pd.DataFrame({"user_idx": [0], "item_idx": [0]}), 1, 1)


def test_itemknn_shrink_zero_leaves_unseen_items_at_zero_not_nan():
    users, items = np.array([0, 0, 1]), np.array([0, 1, 1])
    knn = ItemKNN(users, items, n_users=2, n_items=3, k=5, shrink=0.0)  # item 2 never seen
    assert not knn.similarity.isnan().any()
    assert knn.similarity[2].tolist() == [0.0, 0.0, 0.0]
    assert float(knn.similarity[0, 1]) == pytest.approx(1 / 2**0.5)


def test_itemknn_neighbours_rethresholded_from_one_ranking_match_a_fresh_fit():
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 40, 300), rng.integers(0, 25, 300)
    matrix = torch.zeros(40, 25)
    matrix[users, items] = 1.0
    similarity = cosine_similarity(matrix.T @ matrix, 10.0)
    ranked = similarity.topk(20, dim=1).values
    for k in (1, 3, 10, 20, 30):
        fresh = ItemKNN(users, items, 40, 25, k=k, shrink=10.0).similarity
        torch.testing.assert_close(keep_neighbours(similarity, k, ranked), fresh)
        if k < 25:  # each row keeps the values at or above its own k-th largest
            kth = np.sort(similarity.numpy(), axis=1)[:, -k][:, None]
            expected = np.where(similarity.numpy() >= kth, similarity.numpy(), 0.0)
            np.testing.assert_array_equal(fresh.numpy(), expected)


# Five items, four users; item 4 has no interaction, so its row and column of B stay zero.
EASE_USERS = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 3])
EASE_ITEMS = np.array([0, 1, 2, 0, 1, 1, 2, 3, 0, 3])


def _ease_numpy(l2: float) -> np.ndarray:
    """Steck's reference code (Algorithm 1 of the paper), on the full 5 x 5 Gram matrix."""
    x = np.zeros((4, 5))
    x[EASE_USERS, EASE_ITEMS] = 1.0
    gram = x.T @ x + l2 * np.eye(5)
    p = np.linalg.inv(gram)
    b = p / (-np.diag(p))
    b[np.diag_indices(5)] = 0.0
    return b


@pytest.mark.parametrize("l2", [0.5, 3.0, 40.0])
def test_ease_weights_match_the_closed_form(l2: float):
    ease = EASE(EASE_USERS, EASE_ITEMS, n_users=4, n_items=5, l2=l2)
    weights = ease.weights.numpy()
    assert ease.weights.dtype == torch.float32 and weights.shape == (5, 5)
    assert np.diag(weights).tolist() == [0.0] * 5
    np.testing.assert_allclose(weights, _ease_numpy(l2), rtol=1e-5, atol=1e-7)
    assert weights[4].tolist() == [0.0] * 5 and weights[:, 4].tolist() == [0.0] * 5
    # Hand-checked sign: items 0 and 1 co-occur for users 0 and 1, so B[0, 1] > 0.
    assert weights[0, 1] > 0


def test_ease_larger_l2_shrinks_the_weights():
    norms = [
        float(EASE(EASE_USERS, EASE_ITEMS, 4, 5, l2=l2).weights.abs().sum())
        for l2 in (0.5, 5.0, 50.0, 500.0)
    ]
    assert norms == sorted(norms, reverse=True) and norms[-1] < norms[0] / 50


def test_ease_scores_are_history_times_weights():
    ease = EASE(EASE_USERS, EASE_ITEMS, n_users=4, n_items=5, l2=2.0)
    scores = ease.score_items(torch.tensor([2, 0]))
    b = _ease_numpy(2.0)
    history = np.array([[0, 1, 1, 1, 0], [1, 1, 1, 0, 0]], dtype=np.float64)  # users 2 and 0
    assert scores.shape == (2, 5)
    np.testing.assert_allclose(scores.numpy(), history @ b, rtol=1e-5, atol=1e-6)


def test_ease_refuses_a_non_positive_l2():
    with pytest.raises(ValueError, match="l2 > 0"):
        EASE(EASE_USERS, EASE_ITEMS, 4, 5, l2=0.0)


def test_ease_memory_estimate_is_four_float64_item_matrices():
    assert ease_memory_bytes(1_000) == 32_000_000
    assert ease_memory_bytes(40_000) == 51_200_000_000


def test_bpr_epoch_callback_sees_every_epoch_and_can_stop_without_changing_the_weights():
    train, _ = _planted()
    users, items = train["user_idx"].to_numpy(), train["item_idx"].to_numpy()
    seen: list[int] = []

    def stop_at_three(epoch: int, model: object) -> bool:
        seen.append(epoch)
        return epoch == 3

    stopped = train_bpr(users, items, 30, 20, dim=8, epochs=10, seed=1, on_epoch=stop_at_three)
    plain = train_bpr(users, items, 30, 20, dim=8, epochs=3, seed=1)
    assert seen == [1, 2, 3]
    assert not stopped.training
    for name, weight in plain.state_dict().items():
        assert torch.equal(weight, stopped.state_dict()[name]), name


def test_bpr_flushes_subnormals_while_training_only():
    """Adam moments sink into subnormal floats (with a large ``l2`` above all), which x86
    computes ~100x slower: BPR-MF flushes them to zero while it trains, then stops."""
    train, _ = _planted()
    users, items = train["user_idx"].to_numpy(), train["item_idx"].to_numpy()
    tiny = torch.tensor([1e-30]), torch.tensor([1e-10])  # their product, 1e-40, is subnormal
    during: list[float] = []

    def measure(epoch: int, model: object) -> bool:
        during.append(float(tiny[0] * tiny[1]))
        return False

    supported = torch.set_flush_denormal(False)  # returns whether this CPU can flush
    train_bpr(users, items, 30, 20, dim=8, epochs=2, l2=1e-2, seed=0, on_epoch=measure)
    assert during == ([0.0, 0.0] if supported else [pytest.approx(1e-40, rel=1e-3)] * 2)
    assert float(tiny[0] * tiny[1]) == pytest.approx(1e-40, rel=1e-3)  # off again


def test_the_sparse_history_gives_the_dense_products(monkeypatch):
    rng = np.random.default_rng(0)
    n_users, n_items = 37, 23
    users, items = rng.integers(0, n_users, 300), rng.integers(0, n_items, 300)
    dense = torch.zeros(n_users, n_items)
    dense[torch.from_numpy(users), torch.from_numpy(items)] = 1.0  # repeats count once
    monkeypatch.setattr(itemknn, "GRAM_BLOCK_USERS", 5)  # several blocks, a short last one
    history = History(users, items, n_users, n_items)
    torch.testing.assert_close(history.gram(), dense.T @ dense)
    columns = torch.tensor([1, 4, 5, 17, 22])
    torch.testing.assert_close(history.gram(columns), (dense.T @ dense)[columns][:, columns])
    picked = torch.tensor([3, 0, 36, 3])  # any order, repeats
    assert torch.equal(history.rows(picked).to_dense(), dense[picked])
    assert torch.equal(history.rows(picked, columns).to_dense(), dense[picked][:, columns])
    weights = torch.from_numpy(rng.normal(size=(n_items, n_items)).astype(np.float32))
    torch.testing.assert_close(history.scores(picked, weights), dense[picked] @ weights)
    # A user without interactions: an empty row.
    lone = History(np.array([0]), np.array([2]), 3, 4)
    assert lone.rows(torch.tensor([1, 0])).to_dense().tolist() == [[0, 0, 0, 0], [0, 0, 1, 0]]
