"""Baseline hyperparameters chosen on valid: the grids, the choice, the refit, the memory
budget's skips, BPR-MF's sparse tables at scale."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from mtrec.config import EvaluationConfig
from mtrec.evaluation import baselines
from mtrec.evaluation.baselines import (
    BaselineSkipped,
    TunedBaseline,
    fit_baseline,
    tune_and_fit_baseline,
    tune_baseline,
)
from mtrec.evaluation.evaluate import build_baseline, rank_split
from mtrec.models.baselines.bpr import train_bpr
from mtrec.models.baselines.itemknn import ItemKNN


def _frames(rows: list[tuple[int, int, int]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.DataFrame(rows, columns=["user_idx", "item_idx", "part"])
    frame = frame.drop_duplicates(["user_idx", "item_idx"])
    return (
        frame[frame["part"] == 0].reset_index(drop=True),
        frame[frame["part"] == 1].reset_index(drop=True),
    )


def paired_items(n_pairs: int = 60, n_users: int = 80, seed: int = 0):
    """Items come in pairs (2p, 2p + 1) always taken together: each user has six whole pairs
    in train, plus one item of a seventh pair whose partner is the user's valid item. Any
    other co-occurrence is coincidence, so the fewest neighbours and the least shrinkage of
    EASE's regression (each item is explained by its partner alone) rank best."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        chosen = rng.choice(n_pairs, size=7, replace=False)
        for pair in chosen[:-1]:
            rows += [(user, 2 * int(pair), 0), (user, 2 * int(pair) + 1, 0)]
        first = int(rng.integers(2))
        rows += [(user, 2 * int(chosen[-1]) + first, 0), (user, 2 * int(chosen[-1]) + 1 - first, 1)]
    return _frames(rows)


def popular_items(n_users: int = 80, n_items: int = 120, seed: int = 0):
    """Every interaction drawn independently from a Zipf popularity, valid too: history says
    nothing beyond popularity, which EASE reaches with a large l2 (B tends to X^T X / l2, the
    co-occurrence counts), while a small l2 fits the coincidences."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 1.2
    popularity /= popularity.sum()
    rows = []
    for user in range(n_users):
        chosen = rng.choice(n_items, size=14, replace=False, p=popularity)
        rows += [(user, int(i), 0) for i in chosen[:-2]] + [(user, int(i), 1) for i in chosen[-2:]]
    return _frames(rows)


def planted_groups(n_users: int = 30, n_items: int = 20, seed: int = 0):
    """Even users take items 0-9, odd users 10-19: 6 in train, 2 in valid."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        liked = np.arange(0, 10) if user % 2 == 0 else np.arange(10, 20)
        for t, item in enumerate(rng.choice(liked, size=8, replace=False)):
            rows.append((user, int(item), int(t >= 6)))
    return _frames(rows)


def _valid_ndcg(scorer, train: pd.DataFrame, valid: pd.DataFrame, n_items: int) -> float:
    return rank_split(scorer, n_items, valid, train, (10,)).metrics["ndcg@10"]


def test_itemknn_search_prefers_few_neighbours_and_no_shrinkage_for_paired_items():
    train, valid = paired_items()
    tuned = tune_baseline("itemknn", train, valid, 80, 120)
    assert tuned.params == {"k": 10, "shrink": 0.0}
    assert len(tuned.grid) == 24  # 6 neighbourhoods x 4 shrinkages, all tried
    values = {(p["k"], p["shrink"]): v for p, v in tuned.grid}
    assert tuned.valid_ndcg == pytest.approx(0.507, abs=0.001)
    assert tuned.valid_ndcg > values[(25, 0.0)] + 0.05 > values[(400, 0.0)] + 0.05


def test_ease_search_follows_the_data_small_l2_for_pairs_large_for_popularity():
    train, valid = paired_items()
    pairs = tune_baseline("ease", train, valid, 80, 120)
    assert [p["l2"] for p, _ in pairs.grid] == list(baselines.EASE_L2S)
    assert pairs.params == {"l2": 1.0}
    assert pairs.valid_ndcg > dict((p["l2"], v) for p, v in pairs.grid)[5000.0] + 0.5

    train, valid = popular_items()
    popular = tune_baseline("ease", train, valid, 80, 120)
    assert popular.params == {"l2": 200.0}
    assert popular.valid_ndcg > dict((p["l2"], v) for p, v in popular.grid)[1.0] + 0.1


@pytest.mark.parametrize("name", ["popularity", "itemknn", "ease"])
def test_the_choice_is_the_best_candidate_and_its_valid_ndcg_is_the_evaluators(name):
    train, valid = popular_items(seed=2)
    tuned, scorer = tune_and_fit_baseline(name, train, valid, 80, 120)
    best = max(range(len(tuned.grid)), key=lambda i: tuned.grid[i][1])  # first of any tie
    assert (tuned.params, tuned.valid_ndcg) == tuned.grid[best]
    refit = fit_baseline(name, tuned.params, train, 80, 120)
    assert tuned.valid_ndcg == _valid_ndcg(refit, train, valid, 120)
    users = torch.arange(80)
    assert torch.equal(scorer(users), refit(users))  # the kept scorer is the refit one


def test_bpr_search_picks_the_l2_that_learns_and_an_early_stopped_epoch(monkeypatch):
    # l2 = 30 pins every factor at zero: only the item biases learn, and in this data all
    # items are equally popular, so its ranking is near random against l2 = 0's groups.
    monkeypatch.setattr(baselines, "BPR_L2S", (30.0, 0.0))
    monkeypatch.setattr(baselines, "BPR_MAX_EPOCHS", 40)
    train, valid = planted_groups()
    tuned, scorer = tune_and_fit_baseline("bpr", train, valid, 30, 20, seed=3)
    assert tuned.params["l2"] == 0.0
    epochs = [p["epochs"] for p, _ in tuned.grid if p["l2"] == 0.0]
    assert epochs == list(range(5, epochs[-1] + 1, 5)) and epochs[-1] <= 40
    assert tuned.params["epochs"] in epochs
    pinned = max(v for p, v in tuned.grid if p["l2"] == 30.0)
    assert tuned.valid_ndcg > pinned + 0.2
    # Fitting the chosen parameters again trains exactly the weights the search kept.
    refit = fit_baseline("bpr", tuned.params, train, 30, 20, seed=3)
    users = torch.arange(30)
    assert torch.equal(scorer(users), refit(users))
    assert tuned.valid_ndcg == _valid_ndcg(refit, train, valid, 20)


def test_bpr_is_checked_every_five_epochs_or_every_epoch_once_epochs_are_large(monkeypatch):
    assert [
        baselines.bpr_check_every(n) for n in (0, 600, 80_000, 100_000, 200_000, 400_000, 8_000_000)
    ] == [5, 5, 5, 4, 2, 1, 1]
    # A search on a log whose epoch is as large as BPR_CHECK_PAIRS checks after every epoch.
    train, valid = planted_groups()
    monkeypatch.setattr(baselines, "BPR_CHECK_PAIRS", len(train))
    monkeypatch.setattr(baselines, "BPR_L2S", (0.0,))
    monkeypatch.setattr(baselines, "BPR_MAX_EPOCHS", 6)
    tuned = tune_baseline("bpr", train, valid, 30, 20, seed=3)
    epochs = [p["epochs"] for p, _ in tuned.grid]
    assert epochs == list(range(1, len(epochs) + 1)) and 2 <= len(epochs) <= 6


def test_bpr_early_stopping_ends_after_patience_checks_without_improvement(monkeypatch):
    monkeypatch.setattr(baselines, "BPR_L2S", (0.0,))
    values = iter([0.30, 0.50, 0.40, 0.45, 0.60, 0.90])
    monkeypatch.setattr(baselines._Validator, "__call__", lambda self, scorer: next(values))
    train, valid = planted_groups()
    tuned = tune_baseline("bpr", train, valid, 30, 20)
    # Best at epoch 10, then two checks below it: stopped at epoch 20, 0.60 never seen.
    assert [(p["epochs"], v) for p, v in tuned.grid] == [
        (5, 0.30),
        (10, 0.50),
        (15, 0.40),
        (20, 0.45),
    ]
    assert tuned.params == {"l2": 0.0, "epochs": 10} and tuned.valid_ndcg == 0.50


def test_fit_baseline_uses_the_given_parameters_and_defaults_for_the_rest():
    train, _ = planted_groups()
    users, items = train["user_idx"].to_numpy(), train["item_idx"].to_numpy()
    bpr = fit_baseline("bpr", {"epochs": 2}, train, 30, 20, seed=5)
    expected = train_bpr(users, items, 30, 20, epochs=2, l2=1e-5, seed=5)
    assert torch.equal(bpr(torch.arange(30)), expected.score_items(torch.arange(30)))
    one = fit_baseline("itemknn", {"k": 1}, train, 30, 20)  # shrink from the defaults: 10
    expected_knn = ItemKNN(users, items, 30, 20, k=1, shrink=10.0)
    assert torch.equal(one(torch.arange(30)), expected_knn.score_items(torch.arange(30)))
    assert not torch.equal(
        one(torch.arange(30)), build_baseline("itemknn", train, 30, 20)(torch.arange(30))
    )
    with pytest.raises(ValueError, match="unknown baseline"):
        fit_baseline("svd", {}, train, 30, 20)


def test_tuned_baseline_is_json_friendly():
    train, valid = paired_items()
    tuned = tune_baseline("ease", train, valid, 80, 120)
    assert isinstance(tuned, TunedBaseline) and tuned.seconds > 0
    data = json.loads(json.dumps(tuned.to_dict()))
    assert data["name"] == "ease" and data["params"] == {"l2": 1.0}
    assert data["valid_ndcg"] == tuned.valid_ndcg
    assert data["grid"][0] == {"params": {"l2": 1.0}, "ndcg@10": tuned.grid[0][1]}
    assert len(data["grid"]) == len(baselines.EASE_L2S)


def test_an_empty_valid_keeps_the_defaults():
    train, valid = planted_groups()
    tuned = tune_baseline("itemknn", train, valid.iloc[:0], 30, 20)
    assert tuned.params == {"k": 100, "shrink": 10.0} and tuned.grid == ()
    assert np.isnan(tuned.valid_ndcg)


def test_ease_over_the_memory_budget_is_skipped_before_allocating(monkeypatch):
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("EASE allocated its matrices over budget")

    for name in ("History", "gram_matrix", "EASE"):
        monkeypatch.setattr(baselines, name, refuse)
    train, valid = planted_groups()
    with pytest.raises(BaselineSkipped) as big:
        tune_baseline("ease", train, valid, 30, 40_000, baseline_max_memory_mb=4096)
    reason = "EASE needs 47.7 GB for 40,000 items, over evaluation.baseline_max_memory_mb 4096"
    assert big.value.reason == reason and big.value.name == "ease"
    assert big.value.to_dict() == {"skipped": reason}
    # A tiny budget skips even this 20-item catalogue (20^2 x 32 bytes = 12.5 kB).
    with pytest.raises(BaselineSkipped, match=r"EASE needs 0\.0122 MB for 20 items.* 0\.01$"):
        fit_baseline("ease", {}, train, 30, 20, baseline_max_memory_mb=0.01)
    monkeypatch.undo()
    scorer = fit_baseline("ease", {}, train, 30, 20, baseline_max_memory_mb=0.02)
    assert scorer(torch.tensor([0])).shape == (1, 20)


def test_itemknn_over_the_memory_budget_is_skipped_before_allocating(monkeypatch):
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("ItemKNN allocated its matrices over budget")

    for name in ("History", "ItemKNN"):
        monkeypatch.setattr(baselines, name, refuse)
    train, valid = planted_groups()
    # The synthetic 10M log: four 50,000 x 50,000 float32 matrices (the history is sparse).
    with pytest.raises(BaselineSkipped) as big:
        tune_baseline("itemknn", train, valid, 200_000, 50_000, baseline_max_memory_mb=4096)
    assert big.value.name == "itemknn"
    assert big.value.reason == (
        "ItemKNN needs 37.3 GB for 200,000 users and 50,000 items, "
        "over evaluation.baseline_max_memory_mb 4096"
    )
    # 4 x 20^2 x 4 bytes = 6,400 bytes: a budget just under skips it too.
    with pytest.raises(BaselineSkipped, match=r"ItemKNN needs 0\.0061 MB for 30 users"):
        fit_baseline("itemknn", {}, train, 30, 20, baseline_max_memory_mb=0.006)
    monkeypatch.undo()
    scorer = fit_baseline("itemknn", {}, train, 30, 20, baseline_max_memory_mb=0.007)
    assert scorer(torch.tensor([0])).shape == (1, 20)


def test_an_old_config_name_for_the_budget_still_loads():
    assert EvaluationConfig(ease_max_memory_mb=512).baseline_max_memory_mb == 512


def test_bpr_trains_sparse_tables_where_they_dwarf_the_batch_and_learns_either_way():
    train, valid = planted_groups()
    users, items = train["user_idx"].to_numpy(), train["item_idx"].to_numpy()
    # 30 users + 20 items: 50 rows, over 16 per batch row at batch 2 (sparse), not at 8.
    for batch_size, sparse in ((2, True), (8, False)):
        model = train_bpr(users, items, 30, 20, dim=8, epochs=30, batch_size=batch_size, seed=0)
        assert model.users.sparse is sparse and model.items.sparse is sparse
        ndcg = _valid_ndcg(model.score_items, train, valid, 20)
        assert ndcg > 0.5, (batch_size, ndcg)  # each group ranks its own items first


def test_a_search_scores_a_seeded_sample_of_at_most_tuning_users(monkeypatch):
    train, valid = planted_groups()  # 30 valid users
    every = baselines._Validator(train, valid, 20, seed=0)
    assert len(np.unique(every.truth[0])) == 30
    monkeypatch.setattr(baselines, "TUNING_USERS", 4)
    sampled = baselines._Validator(train, valid, 20, seed=0)
    users = np.unique(sampled.truth[0])
    assert len(users) == 4 and set(np.unique(sampled.seen[0])) == set(users)
    assert len(sampled.truth[0]) == 4 * 2  # each sampled user's two valid rows
    again = baselines._Validator(train, valid, 20, seed=0)
    assert np.array_equal(np.unique(again.truth[0]), users)
    # The search still runs its whole grid, on the sample.
    tuned = tune_baseline("itemknn", train, valid, 30, 20)
    assert len(tuned.grid) == 24 and 0.0 <= tuned.valid_ndcg <= 1.0
