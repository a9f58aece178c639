"""Property-based tests (hypothesis): the split is an exact partition that respects time per
user, and ranking metrics stay in bounds and score a perfect ranking 1."""

import numpy as np
import pandas as pd
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mtrec.config import SplitConfig
from mtrec.data.split import split_interactions
from mtrec.evaluation.metrics import evaluate_ranking

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def interaction_logs(draw: st.DrawFn) -> pd.DataFrame:
    n_users = draw(st.integers(1, 8))
    rows = []
    for user in range(n_users):
        n = draw(st.integers(1, 15))
        items = draw(st.lists(st.integers(0, 30), min_size=n, max_size=n, unique=True))
        times = draw(st.lists(st.integers(0, 50), min_size=n, max_size=n))  # ties allowed
        rows += [(user, item, t) for item, t in zip(items, times, strict=True)]
    frame = pd.DataFrame(rows, columns=["user_idx", "item_idx", "timestamp"])
    frame["user_id"] = "u" + frame["user_idx"].astype(str)
    frame["item_id"] = "i" + frame["item_idx"].astype(str)
    frame["rating"] = 4.0
    frame["row"] = np.arange(len(frame))
    return frame.sample(frac=1.0, random_state=draw(st.integers(0, 99)))  # any input order


ratios = st.tuples(st.integers(1, 10), st.integers(0, 5), st.integers(0, 5)).map(
    lambda r: tuple(x / sum(r) for x in r)
)


@SETTINGS
@given(log=interaction_logs(), shares=ratios)
def test_ratio_split_is_an_exact_partition_in_time_order(log: pd.DataFrame, shares) -> None:
    split = split_interactions(log, SplitConfig(ratios=shares))
    parts = [split.train, split.valid, split.test]
    rows = np.concatenate([p["row"].to_numpy() for p in parts])
    assert sorted(rows.tolist()) == sorted(log["row"].tolist())  # every row exactly once
    for user, group in log.groupby("user_idx"):
        train_times = split.train.loc[split.train["user_idx"] == user, "timestamp"]
        later = pd.concat([split.valid, split.test])
        later_times = later.loc[later["user_idx"] == user, "timestamp"]
        if len(train_times) and len(later_times):
            assert later_times.min() >= train_times.max()
        test_times = split.test.loc[split.test["user_idx"] == user, "timestamp"]
        valid_times = split.valid.loc[split.valid["user_idx"] == user, "timestamp"]
        if len(test_times) and len(valid_times):
            assert test_times.min() >= valid_times.max()
        assert len(group) == (train_times.size + later_times.size)


@SETTINGS
@given(log=interaction_logs(), cut=st.integers(0, 50), gap=st.integers(0, 20))
def test_time_split_respects_the_cut_offs(log: pd.DataFrame, cut: int, gap: int) -> None:
    config = SplitConfig(strategy="time", valid_start=cut, test_start=cut + gap)
    split = split_interactions(log, config)
    assert len(split.train) + len(split.valid) + len(split.test) == len(log)
    assert (split.train["timestamp"] < cut).all()
    assert split.valid["timestamp"].between(cut, cut + gap - 1).all()
    assert (split.test["timestamp"] >= cut + gap).all()


@SETTINGS
@given(log=interaction_logs(), share=st.floats(0.05, 0.9), seed=st.integers(0, 5))
def test_cold_items_appear_only_in_test(log: pd.DataFrame, share: float, seed: int) -> None:
    config = SplitConfig(strategy="cold_items", cold_item_share=share, seed=seed)
    split = split_interactions(log, config)
    assert len(split.train) + len(split.valid) + len(split.test) == len(log)
    seen = set(split.train["item_idx"]) | set(split.valid["item_idx"])
    test_only = set(split.test["item_idx"]) - seen
    assert test_only, "some items are cold"
    cold_rows = log[log["item_idx"].isin(test_only)]
    assert set(cold_rows["row"]) <= set(split.test["row"])


@st.composite
def ranking_cases(draw: st.DrawFn):
    n_items = draw(st.integers(2, 25))
    n_users = draw(st.integers(1, 6))
    truth, seen = [], []
    for user in range(n_users):
        items = draw(st.permutations(range(n_items)))
        n_truth = draw(st.integers(1, n_items - 1))
        n_seen = draw(st.integers(0, n_items - n_truth))
        truth += [(user, i) for i in items[:n_truth]]
        seen += [(user, i) for i in items[n_truth : n_truth + n_seen]]
    ks = tuple(sorted(set(draw(st.lists(st.integers(1, 30), min_size=1, max_size=3)))))
    return n_users, n_items, np.array(truth), np.array(seen, dtype=np.int64).reshape(-1, 2), ks


def _evaluate(score, n_items, truth, seen, ks):
    return evaluate_ranking(score, n_items, truth[:, 0], truth[:, 1], seen[:, 0], seen[:, 1], ks)


@SETTINGS
@given(case=ranking_cases(), seed=st.integers(0, 1000))
def test_metrics_stay_in_bounds(case, seed: int) -> None:
    n_users, n_items, truth, seen, ks = case
    generator = torch.Generator().manual_seed(seed)
    means, per_user, _ = _evaluate(
        lambda users: torch.rand(len(users), n_items, generator=generator),
        n_items,
        truth,
        seen,
        ks,
    )
    for name, value in means.items():
        assert 0.0 <= value <= 1.0 + 1e-12, name
    for k in ks:
        assert means[f"recall@{k}"] <= means[f"hit@{k}"] + 1e-12
        assert means[f"mrr@{k}"] <= means[f"hit@{k}"] + 1e-12


@SETTINGS
@given(case=ranking_cases())
def test_a_perfect_ranking_scores_one(case) -> None:
    n_users, n_items, truth, seen, ks = case
    relevant = torch.zeros(n_users, n_items)
    relevant[truth[:, 0], truth[:, 1]] = 1.0

    means, _, _ = _evaluate(lambda users: relevant[users], n_items, truth, seen, ks)
    for k in ks:
        assert means[f"ndcg@{k}"] == 1.0 or abs(means[f"ndcg@{k}"] - 1.0) < 1e-9
        assert means[f"hit@{k}"] == 1.0 and means[f"mrr@{k}"] == 1.0
        counts = np.bincount(truth[:, 0], minlength=n_users)
        expected_recall = np.mean(np.minimum(counts, k) / counts)
        assert abs(means[f"recall@{k}"] - expected_recall) < 1e-9
