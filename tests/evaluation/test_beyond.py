"""Beyond-accuracy metrics and slices on hand-computed examples."""

import math

import numpy as np
import pandas as pd
import pytest

from mtrec.evaluation.beyond import (
    beyond_accuracy,
    gini,
    intra_list_diversity,
    item_popularity_slices,
    user_activity_slices,
)


def test_gini_extremes_and_a_hand_value() -> None:
    assert gini(np.array([5, 5, 5, 5])) == 0.0
    assert gini(np.array([0, 0, 0, 8])) == pytest.approx(0.75)  # (n - 1) / n for one holder
    assert gini(np.array([1, 3])) == pytest.approx(0.25)  # mean abs diff 2 / (2 * 2 * mean 2)
    assert gini(np.array([])) == 0.0 and gini(np.zeros(3)) == 0.0


def test_beyond_accuracy_on_two_lists() -> None:
    top = np.array([[0, 1], [0, 2]])
    counts = np.array([8, 2, 0, 6])  # item 2 never trained, item 3 never recommended
    embeddings = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    result = beyond_accuracy(top, counts, n_users=8, item_embeddings=embeddings)
    assert result["coverage"] == pytest.approx(3 / 4)
    assert result["gini"] == pytest.approx(gini(np.array([2, 1, 1, 0])))
    assert result["mean_popularity"] == pytest.approx((8 + 2 + 8 + 0) / 4)
    assert result["popularity_lift"] == pytest.approx(4.5 / 4.0)
    # -log2(share): item 0 share 1 -> 0 bits; item 1: 2/8 -> 2 bits; item 2 (count 1): 3 bits.
    assert result["novelty"] == pytest.approx((0 + 2 + 0 + 3) / 4)
    # List 1 holds orthogonal items (distance 1), list 2 identical directions (distance 0).
    assert result["intra_list_diversity"] == pytest.approx(0.5)
    assert all(math.isfinite(v) for v in result.values())


def test_intra_list_diversity_in_chunks_is_the_mean_pairwise_cosine_distance() -> None:
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(30, 6))
    embeddings[4] = 0.0  # a zero vector reads as orthogonal to every other item
    top = rng.integers(0, 30, size=(11, 4))
    top[0] = [4, 1, 2, 3]
    unit = embeddings / (np.linalg.norm(embeddings, axis=1, keepdims=True) + 1e-12)
    pairs = [(i, j) for i in range(4) for j in range(4) if i != j]  # by position
    expected = np.mean([1.0 - np.mean([unit[r[i]] @ unit[r[j]] for i, j in pairs]) for r in top])
    for chunk in (1, 3, 4096):  # chunks that split the lists unevenly, and one holding all
        assert intra_list_diversity(top, embeddings, chunk) == pytest.approx(expected)


def test_user_activity_slices_average_per_user_values() -> None:
    train = pd.DataFrame({"user_idx": [0] * 1 + [1] * 2 + [2] * 8 + [3] * 20})
    per_user = {"users": np.array([0, 1, 2, 3]), "ndcg@10": np.array([0.1, 0.2, 0.3, 0.4])}
    buckets = user_activity_slices(per_user, train)
    assert sum(b["count"] for b in buckets) == 4
    assert buckets[0]["value"] == pytest.approx(0.1) and buckets[-1]["value"] == pytest.approx(0.4)
    assert "training interactions" in buckets[0]["bucket"]


def test_item_popularity_slices_count_found_test_items() -> None:
    top = np.array([[0, 1], [2, 3]])
    users = np.array([5, 7])
    truth = pd.DataFrame({"user_idx": [5, 5, 7, 9], "item_idx": [1, 3, 3, 0]})
    counts = np.array([10, 1, 1, 10])
    buckets = item_popularity_slices(top, users, truth, counts)
    # User 9 has no list and is left out. Item 1 (1 training interaction) is in user 5's list;
    # item 3 (10) is missing from user 5's list and in user 7's.
    assert sum(b["count"] for b in buckets) == 3
    found = {b["bucket"]: b["value"] for b in buckets}
    assert found == {"1–1 training interactions": 1.0, "10–10 training interactions": 0.5}
