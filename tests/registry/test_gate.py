"""The promotion gate: paired bootstrap, id alignment with the production model, decisions."""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import bare_spec

from mtrec.models.serialization import TrainedModel
from mtrec.models.shared_bottom import SharedBottomRecommender
from mtrec.registry.gate import aligned_scorer, paired_bootstrap
from mtrec.registry.promotion import gate_promotion

METRIC = "valid.ndcg@10"


def test_bootstrap_of_identical_models_is_zero() -> None:
    values = np.random.default_rng(0).random(200)
    result = paired_bootstrap(values, values, samples=300)
    assert result.mean_difference == result.low == result.high == 0.0
    assert result.users == 200 and result.samples == 300


def test_bootstrap_finds_a_consistent_gain_and_not_noise() -> None:
    rng = np.random.default_rng(1)
    production = rng.random(500)
    better = paired_bootstrap(production + 0.05 + rng.normal(0, 0.01, 500), production)
    assert 0.04 < better.low < better.mean_difference < better.high < 0.06
    noise = paired_bootstrap(production + rng.normal(0, 0.2, 500), production, seed=3)
    assert noise.low < 0.0 < noise.high  # no confident difference either way
    with pytest.raises(ValueError, match="equal, non-empty"):
        paired_bootstrap(np.ones(3), np.ones(4))


def _trained(user_ids: tuple[str, ...], item_ids: tuple[str, ...]) -> TrainedModel:
    torch.manual_seed(0)
    spec = bare_spec(
        n_users=len(user_ids),
        n_items=len(item_ids),
        user_text_dim=3,
        item_text_dim=3,
        embedding_dim=4,
        hidden_dims=(8,),
        tower_dims=(4,),
        tasks=("watch",),
    )
    model = SharedBottomRecommender(
        spec, torch.randn(len(user_ids), 3), torch.randn(len(item_ids), 3)
    )
    state = {k: v.clone() for k, v in model.state_dict().items()}
    return TrainedModel(spec, state, user_ids, item_ids)


def test_aligned_scorer_translates_ids_and_blocks_unknown_items() -> None:
    production = _trained(("alice", "bob"), ("x", "y", "z"))
    users = pd.Series(["bob", "carol", "alice"])  # current index order
    items = pd.Series(["y", "new", "x"])
    score, known = aligned_scorer(production, users, items)
    assert known.tolist() == [True, False, True]
    got = score(torch.tensor([0, 2]))  # bob, alice
    expected = production.build().score_items(torch.tensor([1, 0]))  # own indices
    torch.testing.assert_close(got[:, 0], expected[:, 1])  # "y"
    torch.testing.assert_close(got[:, 2], expected[:, 0])  # "x"
    assert torch.isinf(got[:, 1]).all() and (got[:, 1] < 0).all()  # "new" cannot be shown


BOOT = {
    "users": 400,
    "candidate": 0.13,
    "production": 0.12,
    "mean_difference": 0.01,
    "low": 0.004,
    "high": 0.016,
    "confidence": 0.95,
    "samples": 1000,
}


def test_gate_promotes_a_confident_gain_within_tolerances() -> None:
    decision = gate_promotion(
        METRIC,
        BOOT,
        0.0,
        {"rating_rmse": 0.95, "like_auc": 0.80},
        {"rating_rmse": 0.96, "like_auc": 0.805},
        {"rating_rmse": 0.02, "like_auc": 0.01},
        "v1",
    )
    assert decision.promote is True
    assert (
        "beats production version v1" in decision.reason and "[+0.0040, +0.0160]" in decision.reason
    )
    assert all(check["ok"] for check in decision.evidence["secondary"])


def test_gate_refuses_when_the_interval_reaches_the_margin() -> None:
    unsure = {**BOOT, "low": -0.002}
    decision = gate_promotion(METRIC, unsure, 0.0, {}, {}, {})
    assert decision.promote is False and "not confidently better" in decision.reason
    margin = gate_promotion(METRIC, BOOT, 0.005, {}, {}, {})
    assert margin.promote is False and "not above 0.005" in margin.reason


def test_gate_refuses_a_secondary_metric_worse_beyond_tolerance() -> None:
    decision = gate_promotion(
        METRIC,
        BOOT,
        0.0,
        {"rating_rmse": 1.10, "like_auc": 0.80},
        {"rating_rmse": 0.96, "like_auc": 0.80},
        {"rating_rmse": 0.02, "like_auc": 0.01},
    )
    assert decision.promote is False
    assert "rating_rmse 1.1000 vs 0.9600 (tolerance 0.02)" in decision.reason
    assert [c["ok"] for c in decision.evidence["secondary"]] == [False, True]


def test_gate_promotes_the_first_version() -> None:
    decision = gate_promotion(METRIC, None, 0.0, {}, {}, {})
    assert decision.promote is True and "first" in decision.reason


@pytest.mark.filterwarnings("ignore:ks_2samp:RuntimeWarning")  # 600 one-item lists: asymptotic
def test_prediction_drift_between_two_scorers() -> None:
    from mtrec.registry.gate import prediction_drift

    base = torch.arange(30, dtype=torch.float32).repeat(4, 1)  # every user: item 29 first
    history = pd.DataFrame({"user_idx": [0], "item_idx": [29]})  # user 0 saw item 29

    def same(users: torch.Tensor) -> torch.Tensor:
        return base[: len(users)]

    def reversed_(users: torch.Tensor) -> torch.Tensor:
        return -base[: len(users)]

    users = np.arange(4)
    identical = prediction_drift(same, same, users, history, n_items=30, k=10)
    assert identical["top10_overlap"] == 1.0 and identical["first_item_changed"] == 0.0
    assert identical["top_score_ks"] == 0.0 and identical["users"] == 4
    opposite = prediction_drift(same, reversed_, users, history, n_items=30, k=10)
    assert opposite["top10_overlap"] == 0.0 and opposite["first_item_changed"] == 1.0
    # Users in any order, over several batches: each user's own seen items are masked. The
    # candidate ranks item 29 first, production item 28 first and 29 second: their first items
    # differ except for the users who saw 29 (both then start at 28) or 28 (both at 29).
    many = np.arange(600)[::-1].copy()
    seen = pd.DataFrame({"user_idx": [599, 5, 300], "item_idx": [29, 28, 29]})
    order = torch.arange(30, dtype=torch.float32)

    def candidate(users: torch.Tensor) -> torch.Tensor:
        return order.repeat(len(users), 1)

    def production(users: torch.Tensor) -> torch.Tensor:
        return order[[*range(28), 29, 28]].repeat(len(users), 1)  # 28 scores 29, 29 scores 28

    drift = prediction_drift(candidate, production, many, seen, n_items=30, k=1)
    assert drift["users"] == 600 and drift["first_item_changed"] == pytest.approx(597 / 600)


def test_same_data_metrics_score_both_models_on_the_pairs_production_knows() -> None:
    from mtrec.config import TaskConfig
    from mtrec.registry.gate import same_data_metrics

    candidate = _trained(("alice", "bob", "carol"), ("x", "y", "z", "new"))
    production = _trained(("alice", "bob"), ("x", "y", "z"))
    users = pd.DataFrame({"user_id": ["alice", "bob", "carol"]})
    items = pd.DataFrame({"item_id": ["x", "y", "z", "new"]})
    truth = pd.DataFrame(
        {"user_idx": [0, 0, 1, 2], "item_idx": [1, 3, 2, 0], "rating": [5.0, 4.0, 3.0, 2.0]}
    )
    history = pd.DataFrame({"user_idx": [0, 1], "item_idx": [0, 0], "rating": [4.0, 4.0]})
    tasks = {"watch": TaskConfig(kind="ranking", label="interaction")}
    result = same_data_metrics(
        candidate, production, truth, history, users, items, (1, 2), tasks, seed=0
    )
    assert result["users"] == 2  # carol is unknown to production: left out for both
    assert result["pairs"] == 2  # alice-new is unknown to production: no task metric on it
    for model in ("candidate", "production"):
        assert set(result[model]) >= {"ndcg@1", "recall@2", "watch_auc"}
        assert all(0.0 <= v <= 1.0 for v in result[model].values())
    # Production ranks "new" at -inf, so alice's hit on it can only be the candidate's.
    same = same_data_metrics(
        production,
        production,
        truth[truth.user_idx < 2].assign(item_idx=lambda f: f.item_idx.clip(upper=2)),
        history,
        users.iloc[:2],
        items.iloc[:3],
        (1, 2),
        tasks,
    )
    assert same["candidate"] == same["production"]


def test_the_gate_truth_drops_every_pair_a_model_trained_on() -> None:
    from mtrec.registry.gate import not_trained_on

    truth = pd.DataFrame(
        {
            "user_id": ["1", "1", "2", "3"],
            "item_id": ["a", "b", "a", "c"],
            "user_idx": [0, 0, 1, 2],
            "item_idx": [0, 1, 0, 2],
        }
    )
    production_train = pd.DataFrame({"user_id": ["1", "3", "9"], "item_id": ["b", "c", "a"]})
    kept = not_trained_on(truth, production_train)
    assert list(zip(kept["user_id"], kept["item_id"], strict=True)) == [("1", "a"), ("2", "a")]
    assert not_trained_on(truth) is truth  # nothing trained on: everything stays
    # A refit that saw everything leaves nothing to score it on.
    assert not_trained_on(truth, truth[["user_id", "item_id"]]).empty
