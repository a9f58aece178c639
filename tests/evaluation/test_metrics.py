"""Ranking metrics on hand-computed examples, full-ranking evaluation, AUC and RMSE."""

import math

import numpy as np
import pytest
import torch

from mtrec.evaluation.metrics import (
    auc,
    evaluate_ranking,
    metric_names,
    metrics_from_hits,
    rmse,
)


def _one(hits: list[int], n_truth: int, k: int = 10) -> dict[str, float]:
    row = np.zeros((1, k), dtype=bool)
    row[0, : len(hits)] = np.array(hits, dtype=bool)
    values = metrics_from_hits(row, np.array([n_truth]), (k,))
    assert values.shape == (1, 4)
    return dict(zip(("recall", "ndcg", "hit", "mrr"), values[0].tolist(), strict=True))


def test_metric_names_order() -> None:
    assert metric_names((5, 10)) == [
        "recall@5",
        "ndcg@5",
        "hit@5",
        "mrr@5",
        "recall@10",
        "ndcg@10",
        "hit@10",
        "mrr@10",
    ]


def test_single_relevant_at_rank_one() -> None:
    m = _one([1], n_truth=1)
    assert m == pytest.approx({"recall": 1.0, "ndcg": 1.0, "hit": 1.0, "mrr": 1.0})


def test_single_relevant_at_rank_three() -> None:
    m = _one([0, 0, 1], n_truth=1)
    assert m["ndcg"] == pytest.approx(1 / math.log2(4))
    assert m["mrr"] == pytest.approx(1 / 3)
    assert m["recall"] == 1.0 and m["hit"] == 1.0


def test_two_relevant_one_hit_at_rank_one() -> None:
    m = _one([1], n_truth=2)
    assert m["recall"] == pytest.approx(0.5)
    assert m["ndcg"] == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert m["mrr"] == 1.0 and m["hit"] == 1.0


def test_ideal_dcg_is_capped_at_k() -> None:
    m = _one([1] * 10, n_truth=15)
    assert m["ndcg"] == pytest.approx(1.0)
    assert m["recall"] == pytest.approx(10 / 15)


def test_no_hit_gives_zeros() -> None:
    assert _one([], n_truth=3) == {"recall": 0.0, "ndcg": 0.0, "hit": 0.0, "mrr": 0.0}


def test_several_users_and_cut_offs() -> None:
    hits = np.array(
        [
            [0, 1, 0, 0, 1],  # first hit at rank 2, second at rank 5
            [0, 0, 0, 0, 0],
            [1, 1, 1, 0, 0],
        ],
        dtype=bool,
    )
    values = metrics_from_hits(hits, np.array([2, 1, 4]), (2, 5))  # (U, 8)
    assert values.shape == (3, 8)
    d = 1 / np.log2(np.arange(2, 7))  # discounts for ranks 1..5
    expected = np.array(
        [
            [1 / 2, d[1] / d[:2].sum(), 1, 1 / 2, 2 / 2, (d[1] + d[4]) / d[:2].sum(), 1, 1 / 2],
            [0, 0, 0, 0, 0, 0, 0, 0],
            [2 / 4, 1.0, 1, 1, 3 / 4, d[:3].sum() / d[:4].sum(), 1, 1],
        ]
    )
    np.testing.assert_allclose(values, expected, atol=1e-12)


N_ITEMS = 8


def _scorer(preferences: dict[int, list[int]]):
    """Scores that rank items for user u in the order preferences[u] (first = best)."""
    table = torch.zeros(max(preferences) + 1, N_ITEMS)
    for user, order in preferences.items():
        table[user, torch.tensor(order)] = torch.arange(N_ITEMS, 0, -1, dtype=torch.float32)

    def score(users: torch.Tensor) -> torch.Tensor:
        return table[users]

    return score


PREFS = {
    0: [3, 1, 4, 0, 5, 2, 7, 6],
    1: [7, 6, 5, 4, 3, 2, 1, 0],
    2: [0, 1, 2, 3, 4, 5, 6, 7],
}


def test_perfect_ranking_scores_one() -> None:
    means, detail, top = evaluate_ranking(
        _scorer(PREFS),
        N_ITEMS,
        truth_users=np.array([0, 0, 1, 2]),
        truth_items=np.array([3, 1, 7, 0]),
        seen_users=np.array([], dtype=np.int64),
        seen_items=np.array([], dtype=np.int64),
        ks=(2, 5),
    )
    assert top is None
    for name in ("ndcg@2", "hit@2", "mrr@2", "recall@2", "ndcg@5", "mrr@5"):
        assert means[name] == pytest.approx(1.0), name
    assert detail["users"].tolist() == [0, 1, 2]
    assert detail["ndcg@5"].shape == (3,)


def test_seen_items_are_masked_and_keep_top() -> None:
    # User 0's favourite (3) and user 1's (7) are in their history: they must not be ranked.
    means, detail, top = evaluate_ranking(
        _scorer(PREFS),
        N_ITEMS,
        truth_users=np.array([0, 1, 2]),
        truth_items=np.array([4, 5, 3]),
        seen_users=np.array([0, 1, 1, 5]),
        seen_items=np.array([3, 7, 6, 0]),
        ks=(1, 3),
        batch_size=2,
        keep_top=4,
    )
    assert top is not None and top.shape == (3, 4)
    assert top.tolist() == [[1, 4, 0, 5], [5, 4, 3, 2], [0, 1, 2, 3]]
    assert 3 not in top[0] and 7 not in top[1] and 6 not in top[1]
    # User 0: item 4 at rank 2; user 1: item 5 at rank 1; user 2: item 3 at rank 4.
    assert detail["mrr@3"].tolist() == pytest.approx([1 / 2, 1.0, 0.0])
    assert detail["hit@1"].tolist() == [0.0, 1.0, 0.0]
    assert means["hit@3"] == pytest.approx(2 / 3)
    assert means["ndcg@3"] == pytest.approx((1 / math.log2(3) + 1.0 + 0.0) / 3)


def test_users_without_truth_are_not_evaluated() -> None:
    means, detail, _ = evaluate_ranking(
        _scorer(PREFS),
        N_ITEMS,
        truth_users=np.array([2]),
        truth_items=np.array([1]),
        seen_users=np.array([0, 1]),
        seen_items=np.array([3, 7]),
        ks=(1,),
    )
    assert detail["users"].tolist() == [2]
    assert means["recall@1"] == 0.0 and means["mrr@1"] == 0.0


def test_k_larger_than_catalogue_ranks_everything_and_pads_with_misses() -> None:
    # User 0 ranks item 1 second of 8; at K=20 every item is ranked, positions 9-20 are misses.
    means, _, top = evaluate_ranking(
        _scorer(PREFS),
        N_ITEMS,
        np.array([0]),
        np.array([1]),
        np.array([], dtype=np.int64),
        np.array([], dtype=np.int64),
        (5, 20),
        keep_top=30,
    )
    assert means["recall@20"] == 1.0 and means["recall@5"] == 1.0
    assert means["ndcg@20"] == pytest.approx(1 / np.log2(3))
    assert top is not None and top.shape == (1, N_ITEMS)
    assert top[0].tolist() == PREFS[0]


def test_auc_and_rmse_known_values() -> None:
    assert auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert auc(np.array([0, 1]), np.array([0.0, 1.0])) == 1.0
    assert auc(np.array([1, 0]), np.array([0.0, 1.0])) == 0.0
    assert rmse(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0])) == pytest.approx(
        math.sqrt(4 / 3)
    )
    assert rmse(np.array([4.0, 4.0]), np.array([4.0, 4.0])) == 0.0


def test_auc_nan_with_one_class() -> None:
    assert math.isnan(auc(np.array([1, 1, 1]), np.array([0.2, 0.5, 0.9])))
    assert math.isnan(auc(np.array([0, 0]), np.array([0.2, 0.5])))


def test_auc_nan_without_labels() -> None:
    """No labels at all (e.g. an empty test split): undefined, so NaN, not a crash."""
    assert math.isnan(auc(np.array([], dtype=int), np.array([], dtype=float)))


def test_batches_mask_and_score_the_same_as_one_batch() -> None:
    # Pairs in no particular order, users with several truth and seen items, some seen users
    # never evaluated: every batch size must find each batch's own pairs.
    rng = np.random.default_rng(0)
    n_users, n_items = 9, 30
    scores = torch.from_numpy(rng.standard_normal((n_users, n_items))).float()
    truth_users, truth_items = rng.integers(0, 7, 25), rng.integers(0, n_items, 25)
    seen_users, seen_items = rng.integers(0, n_users, 60), rng.integers(0, n_items, 60)

    def rank(batch_size: int) -> tuple[dict[str, float], np.ndarray]:
        means, _, top = evaluate_ranking(
            lambda users: scores[users],
            n_items,
            truth_users,
            truth_items,
            seen_users,
            seen_items,
            (3, 10),
            batch_size=batch_size,
            keep_top=10,
        )
        assert top is not None
        return means, top

    whole, top = rank(1000)
    for row, user in enumerate(np.unique(truth_users)):
        seen = set(seen_items[seen_users == user].tolist())
        expected = [
            i for i in torch.argsort(scores[user], descending=True).tolist() if i not in seen
        ]
        assert top[row].tolist() == expected[:10]
    for batch_size in (1, 2, 3):
        means, batched_top = rank(batch_size)
        assert means == pytest.approx(whole)
        assert np.array_equal(batched_top, top)
