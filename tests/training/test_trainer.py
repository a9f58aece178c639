"""Negative sampling, the weighted multi-task loss, and training on a planted signal."""

import logging
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch.nn import functional as F

from mtrec.config import ModelConfig, SplitConfig, TrainingConfig
from mtrec.data.split import split_interactions
from mtrec.evaluation.metrics import evaluate_ranking
from mtrec.training.trainer import (
    EarlyStopping,
    EpochLog,
    TrainingHistory,
    grouped_order,
    sample_negatives,
    sparse_id_gradients,
    task_losses,
    train_multitask,
)
from mtrec.training.weighting import TaskWeighting
from mtrec.workflows.fit import build_model, fit_recommender
from mtrec.workflows.inputs import ModelInputs


def _seen_keys(users: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray:
    return np.unique(users * n_items + items)


def test_sample_negatives_avoids_seen_pairs() -> None:
    n_items = 10
    users = np.array([0, 0, 0, 1, 1, 2])
    items = np.array([0, 1, 2, 3, 4, 9])
    seen = _seen_keys(users, items, n_items)
    neg_users, neg_items = sample_negatives(users, n_items, seen, 50, np.random.default_rng(0))
    assert neg_users.shape == neg_items.shape == (len(users) * 50,)
    assert neg_users.tolist() == np.repeat(users, 50).tolist()
    assert ((neg_items >= 0) & (neg_items < n_items)).all()
    assert not np.isin(neg_users * n_items + neg_items, seen).any()
    # Every allowed item shows up: the draw is uniform over the unseen ones, not a fixed pick.
    assert set(neg_items[neg_users == 0].tolist()) == set(range(3, 10))


def test_sample_negatives_when_unavoidable_still_returns_full_shape() -> None:
    n_items = 3
    users = np.array([0, 0, 0])  # user 0 has seen the whole catalogue
    seen = _seen_keys(users, np.array([0, 1, 2]), n_items)
    neg_users, neg_items = sample_negatives(users, n_items, seen, 4, np.random.default_rng(1))
    assert neg_users.shape == neg_items.shape == (12,)
    assert ((neg_items >= 0) & (neg_items < n_items)).all()


def test_sample_negatives_with_no_history() -> None:
    users = np.array([0, 1])
    neg_users, neg_items = sample_negatives(
        users, 5, np.array([], dtype=np.int64), 3, np.random.default_rng(0)
    )
    assert neg_users.tolist() == [0, 0, 0, 1, 1, 1]
    assert neg_items.shape == (6,)


def test_sample_negatives_is_deterministic_for_a_seed() -> None:
    users = np.array([0, 1, 1, 2, 3])
    seen = _seen_keys(users, np.array([1, 2, 3, 4, 5]), 8)
    a = sample_negatives(users, 8, seen, 3, np.random.default_rng(42))
    b = sample_negatives(users, 8, seen, 3, np.random.default_rng(42))
    c = sample_negatives(users, 8, seen, 3, np.random.default_rng(43))
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_sample_negatives_checked_in_blocks_draws_the_same(monkeypatch) -> None:
    from mtrec.data import negatives

    rng = np.random.default_rng(5)
    users, items = rng.integers(0, 6, 40), rng.integers(0, 9, 40)
    seen = _seen_keys(users, items, 9)  # about half the pairs: many redraws
    whole = sample_negatives(users, 9, seen, 4, np.random.default_rng(7))
    monkeypatch.setattr(negatives, "CHECK_BLOCK", 3)
    blocks = sample_negatives(users, 9, seen, 4, np.random.default_rng(7))
    for a, b in zip(whole, blocks, strict=True):
        np.testing.assert_array_equal(a, b)


def _loss_inputs():
    outputs = {
        "watch": torch.tensor([2.0, -1.0, 0.5, -3.0]),
        "like": torch.tensor([1.0, 0.0, -2.0, 9.0]),
        "rating": torch.tensor([4.5, 3.0, 2.0, 100.0]),
    }
    labels = {
        "watch": torch.tensor([1.0, 1.0, 0.0, 0.0]),
        "like": torch.tensor([1.0, 0.0, 0.0, 0.0]),
        "rating": torch.tensor([5.0, 2.0, 0.0, 0.0]),
    }
    positives = torch.tensor([True, True, False, False])
    masks = {"watch": torch.ones(4, dtype=torch.bool), "like": positives, "rating": positives}
    return outputs, labels, masks


def _bce(logit: float, target: float) -> float:
    p = 1 / (1 + np.exp(-logit))
    return -(target * np.log(p) + (1 - target) * np.log(1 - p))


def test_grouped_order_keeps_each_positive_with_its_own_negatives() -> None:
    rng = np.random.default_rng(0)
    users = rng.integers(0, 50, size=300)
    seen = np.unique(users * 40 + rng.integers(0, 40, size=300))
    neg_users, _ = sample_negatives(users, 40, seen, 4, rng)
    row_users = np.concatenate([users, neg_users])
    order = grouped_order(len(users), 4, np.random.default_rng(1))
    assert sorted(order.tolist()) == list(range(len(row_users)))  # every row once
    groups = order.reshape(-1, 5)
    assert (groups[:, 0] < len(users)).all()  # a positive leads each group
    assert (row_users[groups] == row_users[groups[:, :1]]).all()  # then its own user's rows
    assert not np.array_equal(groups[:, 0], np.arange(len(users)))  # groups are shuffled
    # A batch of 100 rows meets at most 21 users (20 groups, one cut at each end).
    for start in range(0, len(order), 100):
        assert len(np.unique(row_users[order[start : start + 100]])) <= 21


def _static_loss(outputs, labels, masks, weights):
    """What the trainer does under static weighting: the per-task losses, weighted."""
    per_task = task_losses(outputs, labels, masks, weights)
    return TaskWeighting(weights).combine(per_task), per_task


def test_static_weighting_gives_the_weighted_sum_of_the_task_losses() -> None:
    outputs, labels, masks = _loss_inputs()
    total, per_task = _static_loss(
        outputs, labels, masks, {"watch": 1.0, "like": 0.5, "rating": 0.2}
    )
    watch = np.mean([_bce(2.0, 1), _bce(-1.0, 1), _bce(0.5, 0), _bce(-3.0, 0)])
    like = np.mean([_bce(1.0, 1), _bce(0.0, 0)])  # rows 3 and 4 are masked out
    rating = np.mean([(4.5 - 5.0) ** 2, (3.0 - 2.0) ** 2])  # the 100.0 is masked out
    assert float(per_task["watch"]) == pytest.approx(watch, rel=1e-6)
    assert float(per_task["like"]) == pytest.approx(like, rel=1e-6)
    assert float(per_task["rating"]) == pytest.approx(rating, rel=1e-6)
    assert float(total) == pytest.approx(watch + 0.5 * like + 0.2 * rating, rel=1e-6)
    # The same value as torch's own functions on the masked rows.
    expected_watch = F.binary_cross_entropy_with_logits(outputs["watch"], labels["watch"])
    assert float(per_task["watch"]) == pytest.approx(float(expected_watch), rel=1e-6)


def test_zero_weight_task_contributes_nothing() -> None:
    outputs, labels, masks = _loss_inputs()
    outputs["rating"] = torch.tensor([1e4, -1e4, 0.0, 0.0], requires_grad=True)
    total, per_task = _static_loss(outputs, labels, masks, {"watch": 1.0, "rating": 0.0})
    watch_only, _ = _static_loss(outputs, labels, masks, {"watch": 1.0})
    assert float(per_task["rating"].detach()) > 1e7
    assert float(total.detach()) == pytest.approx(float(watch_only.detach()), rel=1e-7)
    total.backward()
    assert outputs["rating"].grad is not None
    assert float(outputs["rating"].grad.abs().max()) == 0.0


def test_empty_mask_gives_zero_loss() -> None:
    outputs, labels, masks = _loss_inputs()
    masks["like"] = torch.zeros(4, dtype=torch.bool)
    total, per_task = _static_loss(outputs, labels, masks, {"watch": 1.0, "like": 1.0})
    assert float(per_task["like"]) == 0.0
    assert float(total) == pytest.approx(float(per_task["watch"]), rel=1e-7)


def _planted(n_users: int = 24, n_items: int = 40, per_user: int = 10, seed: int = 0):
    """Even users only interact with the first half of the items and rate them 5 (liked), odd
    users only with the second half and rate them 3: every task has a learnable signal."""
    rng = np.random.default_rng(seed)
    half = n_items // 2
    rows = []
    for user in range(n_users):
        offset = 0 if user % 2 == 0 else half
        chosen = rng.choice(half, size=per_user, replace=False) + offset
        for t, item in enumerate(chosen):
            rows.append((user, int(item), 5.0 if user % 2 == 0 else 3.0, 1_000 + t))
    frame = pd.DataFrame(rows, columns=["user_idx", "item_idx", "rating", "timestamp"])
    frame["user_id"] = "u" + frame["user_idx"].astype(str)
    frame["item_id"] = "i" + frame["item_idx"].astype(str)
    split = split_interactions(frame, SplitConfig(ratios=(0.8, 0.1, 0.1)))
    item_emb = rng.normal(size=(n_items, 8)).astype(np.float32)
    user_emb = rng.normal(size=(n_users, 8)).astype(np.float32)
    user_ids = pd.Series([f"u{u}" for u in range(n_users)])
    item_ids = pd.Series([f"i{i}" for i in range(n_items)])
    return split, item_emb, user_emb, user_ids, item_ids


MODEL = ModelConfig(embedding_dim=8, hidden_dims=(16,), tower_dims=(8,), dropout=0.0)
TRAINING = TrainingConfig(
    epochs=6, batch_size=64, learning_rate=0.01, negatives_per_positive=4, patience=6, seed=7
)


@pytest.fixture(scope="module")
def planted_runs():
    split, item_emb, user_emb, user_ids, item_ids = _planted()
    runs = [
        fit_recommender(
            split.train,
            split.valid,
            ModelInputs(item_emb, user_emb, user_ids, item_ids),
            MODEL,
            TRAINING,
        )
        for _ in range(2)
    ]
    return split, runs


def test_fit_learns_the_planted_signal(planted_runs) -> None:
    split, [(trained, result), _] = planted_runs
    totals = [log.losses["total"] for log in result.history]
    assert len(totals) == TRAINING.epochs
    assert totals[-1] < 0.5 * totals[0]
    assert np.mean(totals[3:]) < np.mean(totals[:3])
    assert sum(b < a for a, b in zip(totals, totals[1:], strict=False)) >= len(totals) - 2
    assert set(result.history[0].losses) == {"watch", "like", "rating", "total"}

    assert 1 <= result.best_epoch <= len(result.history)
    assert result.best_valid == result.history[result.best_epoch - 1].valid
    best = result.best_valid["ndcg@10"]
    assert best == max(log.valid["ndcg@10"] for log in result.history)

    # Random rankings over the same candidates, averaged over draws.
    truth_u, truth_i = split.valid["user_idx"].to_numpy(), split.valid["item_idx"].to_numpy()
    seen_u, seen_i = split.train["user_idx"].to_numpy(), split.train["item_idx"].to_numpy()
    generator = torch.Generator().manual_seed(0)
    random_ndcg = np.mean(
        [
            evaluate_ranking(
                lambda users: torch.rand(len(users), 40, generator=generator),
                40,
                truth_u,
                truth_i,
                seen_u,
                seen_i,
                (10,),
            )[0]["ndcg@10"]
            for _ in range(30)
        ]
    )
    assert best > random_ndcg + 0.15

    # The returned weights are the best epoch's, and they reproduce its validation score.
    model = build_model(
        MODEL, split.train, np.zeros((40, 8), np.float32), np.zeros((24, 8), np.float32)
    )
    model.load_state_dict(trained.state_dict)
    model.eval()
    again, _, _ = evaluate_ranking(model.score_items, 40, truth_u, truth_i, seen_u, seen_i, (10,))
    assert again["ndcg@10"] == pytest.approx(best, abs=1e-6)
    assert trained.user_ids[:2] == ("u0", "u1") and len(trained.item_ids) == 40
    # The record the training_history artifact stores: a JSON round trip keeps it whole.
    record = result.record()
    assert record.best_epoch == result.best_epoch and len(record.epochs) == len(result.history)
    assert record.seconds_to_best == pytest.approx(
        sum(log.seconds for log in result.history[: result.best_epoch])
    )
    assert TrainingHistory.model_validate_json(record.model_dump_json()) == record


def test_training_history_keeps_nan_metrics_through_json() -> None:
    epoch = EpochLog(epoch=1, losses={"total": 0.5}, valid={"like_auc": float("nan")}, seconds=2.0)
    record = TrainingHistory(best_epoch=1, best_valid=epoch.valid, seconds=2.5, epochs=(epoch,))
    again = TrainingHistory.model_validate_json(record.model_dump_json())
    assert math.isnan(again.epochs[0].valid["like_auc"])
    assert math.isnan(again.best_valid["like_auc"])
    assert again.summary() == {
        "best_epoch": 1,
        "best_valid": again.best_valid,
        "seconds": 2.5,
        "seconds_to_best": 2.0,
    }


def test_fit_is_deterministic_for_a_seed(planted_runs) -> None:
    _, [(first, result_a), (second, result_b)] = planted_runs
    assert result_a.best_epoch == result_b.best_epoch
    assert set(result_a.best_valid) == set(result_b.best_valid)
    for name, value in result_a.best_valid.items():
        assert result_b.best_valid[name] == pytest.approx(value, abs=1e-6)
    assert set(first.state_dict) == set(second.state_dict)
    for name, tensor in first.state_dict.items():
        torch.testing.assert_close(second.state_dict[name], tensor, atol=0, rtol=0)


def test_early_stopping_keeps_the_best_epoch(caplog) -> None:
    split, item_emb, user_emb, _, _ = _planted(n_users=6, n_items=10, per_user=4)
    model = build_model(MODEL, split.train, item_emb, user_emb)
    scores = iter([0.2, 0.5, 0.4, 0.5, 0.1, 0.9])
    snapshots = []

    def validate(network):
        snapshots.append({k: v.clone() for k, v in network.state_dict().items()})
        return {"ndcg@10": next(scores)}

    config = TrainingConfig(epochs=6, batch_size=16, learning_rate=0.01, patience=2, seed=0)
    watch_only = {"watch": MODEL.tasks["watch"]}
    with caplog.at_level(logging.INFO, logger="mtrec.training.trainer"):
        result = train_multitask(model, split.train, watch_only, config, validate, "planted")
    # Epoch 3 and 4 fail to beat 0.5 (a tie is not an improvement): stop after epoch 4.
    assert [log.epoch for log in result.history] == [1, 2, 3, 4]
    # One progress line per epoch: the loss, the monitored value and the best so far.
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 4
    assert lines[0].startswith("[planted] epoch 1/6  loss ")
    assert "valid ndcg@10 0.2000, best 0.2000 at epoch 1" in lines[0]
    assert "valid ndcg@10 0.4000, best 0.5000 at epoch 2" in lines[2]
    loss = result.history[3].losses["watch"]
    assert f"(watch {loss:.4f})" in lines[3] and lines[3].endswith(" s")
    assert result.best_epoch == 2
    assert result.best_valid == {"ndcg@10": 0.5}
    for name, tensor in snapshots[1].items():
        torch.testing.assert_close(result.state_dict[name], tensor, atol=0, rtol=0)
        torch.testing.assert_close(model.state_dict()[name], tensor, atol=0, rtol=0)
    assert not model.training
    # The best epoch's snapshot copied the weights but not the buffers training never writes.
    assert result.state_dict["user_text"].data_ptr() == model.user_text.data_ptr()
    weight = "user_inputs.ids.weight"
    assert result.state_dict[weight].data_ptr() != model.state_dict()[weight].data_ptr()


@pytest.mark.parametrize(
    ("monitor", "values", "best_epoch", "stops_after"),
    [
        # 0.2 -> 0.2008 is +0.4%, under half a percent: stale, not a new best.
        ("ndcg@10", [0.1, 0.2, 0.2008, 0.2011, 0.19], 4, None),
        ("ndcg@10", [0.1, 0.2, 0.2008, 0.2009, 0.3], 2, 4),
        # An error is minimised: 1.0 -> 0.996 is 0.4% lower, not enough; 0.99 is.
        ("rating_rmse", [1.2, 1.0, 0.996, 0.99, 1.1], 4, None),
    ],
)
def test_early_stopping_needs_the_relative_min_improvement(
    monitor, values, best_epoch, stops_after
) -> None:
    split, item_emb, user_emb, _, _ = _planted(n_users=6, n_items=10, per_user=4)
    model = build_model(MODEL, split.train, item_emb, user_emb)
    stopping = EarlyStopping(monitor, 2, model, min_improvement=0.005)
    stopped = None
    for epoch, value in enumerate(values, start=1):
        if stopping.update(epoch, {monitor: value}, model):
            stopped = epoch
            break
    assert stopping.best_epoch == best_epoch
    assert stopped == stops_after
    assert stopping.best[1] == pytest.approx(values[best_epoch - 1])


@pytest.mark.parametrize(("min_improvement", "best_epoch"), [(0.0, 3), (0.005, 2)])
def test_training_reads_min_improvement_from_its_config(min_improvement, best_epoch) -> None:
    split, item_emb, user_emb, _, _ = _planted(n_users=6, n_items=10, per_user=4)
    model = build_model(MODEL, split.train, item_emb, user_emb)
    scores = iter([0.2, 0.5, 0.501, 0.4, 0.4])

    def validate(network):
        return {"ndcg@10": next(scores)}

    config = TrainingConfig(
        epochs=5, batch_size=16, patience=2, seed=0, min_improvement=min_improvement
    )
    watch_only = {"watch": MODEL.tasks["watch"]}
    result = train_multitask(model, split.train, watch_only, config, validate, "planted")
    assert result.best_epoch == best_epoch
    # 0.501 is +0.2% over 0.5: with 0.5% it is stale, and patience 2 stops after epoch 4.
    assert len(result.history) == (5 if best_epoch == 3 else 4)


@pytest.mark.parametrize("decay", [1.0, 0.5])
def test_learning_rate_decays_once_per_epoch(monkeypatch, decay) -> None:
    split, item_emb, user_emb, _, _ = _planted(n_users=6, n_items=10, per_user=4)
    model = build_model(MODEL, split.train, item_emb, user_emb)
    rates: list[float] = []
    step = torch.optim.Adam.step

    def recording_step(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", recording_step)
    # Every training row (positives and their negatives) in one batch: one step an epoch.
    config = TrainingConfig(
        epochs=3, batch_size=10_000, learning_rate=0.02, learning_rate_decay=decay, seed=0
    )
    watch_only = {"watch": MODEL.tasks["watch"]}
    train_multitask(model, split.train, watch_only, config, None, "planted")
    assert rates == pytest.approx([0.02, 0.02 * decay, 0.02 * decay**2])


def test_subnormals_are_flushed_while_training_only() -> None:
    """Weight decay sinks Adam moments into subnormal floats, ~100x slower on x86 (an epoch
    2.5 s -> 23 s): training flushes them to zero, and leaves the setting off afterwards."""
    split, item_emb, user_emb, _, _ = _planted(n_users=6, n_items=10, per_user=4)
    model = build_model(MODEL, split.train, item_emb, user_emb)
    tiny = torch.tensor([1e-30]), torch.tensor([1e-10])  # their product, 1e-40, is subnormal
    during: list[float] = []

    def validate(network):
        during.append(float(tiny[0] * tiny[1]))
        return {"ndcg@10": 0.5}

    config = TrainingConfig(epochs=2, batch_size=16, weight_decay=1e-3, patience=2, seed=0)
    supported = torch.set_flush_denormal(False)  # returns whether this CPU can flush
    train_multitask(model, split.train, {"watch": MODEL.tasks["watch"]}, config, validate)
    assert during == ([0.0, 0.0] if supported else [pytest.approx(1e-40, rel=1e-3)] * 2)
    assert float(tiny[0] * tiny[1]) == pytest.approx(1e-40, rel=1e-3)  # off again


def test_sample_negatives_draws_only_from_candidates() -> None:
    users = np.array([0, 1, 2])
    seen = _seen_keys(users, np.array([1, 2, 3]), 10)
    _, items = sample_negatives(
        users, 10, seen, 200, np.random.default_rng(0), candidates=np.array([1, 2, 3, 7])
    )
    assert set(items.tolist()) <= {1, 2, 3, 7}
    assert 7 in set(items.tolist())
    with pytest.raises(ValueError, match="no candidate items"):
        sample_negatives(users, 10, seen, 1, np.random.default_rng(0), np.array([], np.int64))


def test_text_scores_items_that_have_no_training_interactions() -> None:
    """Planted cold start: items of the first half share a text direction, items of the second
    half another; even users watch only the first half. Four items of each half never appear
    in training. The text model must rank an even user's cold first-half items above the cold
    second-half ones; the id-only model cannot tell cold items apart at all."""
    n_users, n_items, half = 24, 40, 20
    split, _, user_emb, user_ids, item_ids = _planted(n_users, n_items, per_user=10)
    cold = np.array([16, 17, 18, 19, 36, 37, 38, 39])
    train = split.train[~split.train["item_idx"].isin(cold)]
    valid = split.valid[~split.valid["item_idx"].isin(cold)]
    rng = np.random.default_rng(3)
    item_emb = rng.normal(scale=0.3, size=(n_items, 8)).astype(np.float32)
    item_emb[:half, 0] += 2.0
    item_emb[half:, 1] += 2.0
    even = torch.arange(0, n_users, 2)
    scores = {}
    for use_text in (True, False):
        config = MODEL.model_copy(update={"use_text": use_text})
        trained, _ = fit_recommender(
            train, valid, ModelInputs(item_emb, user_emb, user_ids, item_ids), config, TRAINING
        )
        model = trained.build()
        with torch.inference_mode():
            scores[use_text] = model.score_items(even)[:, torch.from_numpy(cold)]
    with_text = scores[True]
    # (even users, 4 cold first-half items) against (even users, 4 cold second-half items)
    # Pairwise AUC per even user: cold first-half items above cold second-half items.
    pairwise = (with_text[:, :4].unsqueeze(2) > with_text[:, 4:].unsqueeze(1)).float()
    assert pairwise.mean() > 0.8  # random scores give 0.5, the id-only model only ties
    assert (pairwise.mean(dim=(1, 2)) > 0.5).float().mean() >= 0.75
    id_only = scores[False]
    assert torch.allclose(id_only, id_only[:, :1].expand_as(id_only), atol=1e-5)


def test_training_device_is_cpu_by_default_and_cuda_only_when_torch_sees_one(monkeypatch):
    import torch

    from mtrec.training.trainer import training_device

    assert training_device("cpu") == torch.device("cpu")
    if torch.cuda.is_available():
        monkeypatch.setenv("LOCAL_RANK", "0")
        assert training_device("cuda") == torch.device("cuda", 0)
        assert training_device("auto").type == "cuda"
    else:
        assert training_device("auto") == torch.device("cpu")
        with pytest.raises(RuntimeError, match="sees no CUDA device"):
            training_device("cuda")


@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="CUDA training path not run: torch.cuda.is_available() is False on this machine",
)
@pytest.mark.parametrize(
    ("id_gradients", "profile_length"), [("dense", 0), ("sparse", 0), ("sparse", 5)]
)
def test_training_on_cuda_learns_and_hands_back_cpu_weights(
    planted_runs, id_gradients, profile_length
) -> None:
    """``training.device: cuda``: the steps run on the GPU (sparse id gradients and the
    long-term profile input included), validation and the returned weights stay on the CPU,
    and the planted signal is learned as on the CPU (other kernels: close, not equal)."""
    split, [(_, cpu_result), _] = planted_runs
    _, item_emb, user_emb, user_ids, item_ids = _planted()
    config = TRAINING.model_copy(update={"device": "cuda", "id_gradients": id_gradients})
    model = MODEL.model_copy(update={"profile_length": profile_length})
    trained, result = fit_recommender(
        split.train, split.valid, ModelInputs(item_emb, user_emb, user_ids, item_ids), model, config
    )
    assert {tensor.device.type for tensor in trained.state_dict.values()} == {"cpu"}
    assert len(result.history) == TRAINING.epochs
    assert result.best_valid["ndcg@10"] > cpu_result.best_valid["ndcg@10"] - 0.1


@pytest.mark.parametrize(
    ("overrides", "sparse"),
    [
        ({"id_gradients": "sparse"}, True),
        ({"id_gradients": "dense"}, False),
        ({"id_gradients": "sparse", "weight_decay": 1e-4}, False),
        ({}, False),  # auto: 64 id rows for batches of 64 rows
    ],
)
def test_id_tables_train_with_sparse_gradients_unless_dense_is_needed(overrides, sparse) -> None:
    """Sparse id gradients (lazy Adam): an epoch costs the batch's rows, not the whole
    catalogue; dense when asked, by ``auto`` on small tables, and with weight decay
    (SparseAdam has none). The network's own flag is untouched, and the planted signal is
    learned either way."""
    split, item_emb, user_emb, user_ids, item_ids = _planted()
    model = build_model(MODEL, split.train, item_emb, user_emb)
    tables = (model.user_inputs.ids, model.item_inputs.ids)
    layouts: list[tuple[bool, ...]] = []
    scores: list[float] = []
    truth = split.valid["user_idx"].to_numpy(), split.valid["item_idx"].to_numpy()
    seen = split.train["user_idx"].to_numpy(), split.train["item_idx"].to_numpy()

    def validate(network):
        # The last step's gradients are still there: zero_grad runs at the next step.
        layouts.append(tuple(t.weight.grad.is_sparse for t in tables))
        means, _, _ = evaluate_ranking(network.score_items, 40, *truth, *seen, (10,))
        scores.append(means["ndcg@10"])
        return means

    config = TRAINING.model_copy(update=overrides)
    train_multitask(model, split.train, MODEL.tasks, config, validate)
    assert layouts == [(sparse, sparse)] * TRAINING.epochs
    assert not any(t.sparse for t in tables)  # scoring and saving see the network as built
    # It learns: from about 0.1 after the first epoch (near random) to about 0.4 for both.
    assert max(scores) > scores[0] + 0.2


def test_auto_id_gradients_go_sparse_only_on_tables_far_larger_than_a_batch() -> None:
    auto = TrainingConfig(batch_size=4096)
    assert not sparse_id_gradients(auto, 943 + 1682)  # MovieLens-100k
    assert not sparse_id_gradients(auto, 16 * 4096)
    assert sparse_id_gradients(auto, 16 * 4096 + 1)
    assert sparse_id_gradients(auto, 200_000 + 50_000)  # the synthetic 10M log
    assert sparse_id_gradients(TrainingConfig(batch_size=64), 2_000)
    assert not sparse_id_gradients(auto.model_copy(update={"weight_decay": 1e-5}), 10**6)
    assert not sparse_id_gradients(auto.model_copy(update={"nproc": 2}), 10**6)
    assert not sparse_id_gradients(auto.model_copy(update={"id_gradients": "dense"}), 10**6)
    assert sparse_id_gradients(auto.model_copy(update={"id_gradients": "sparse"}), 10)


def test_pooled_negatives_come_from_their_groups_pool_and_avoid_seen_pairs() -> None:
    """With groups, every negative of a group is one of at most ``pool_size`` items (its
    pool, drawn from the candidates), seen pairs are still rejected, and across groups the
    draws still cover the candidates."""
    rng = np.random.default_rng(3)
    n_items, candidates = 200, np.arange(0, 200, 2)  # even items only
    users = rng.integers(0, 50, 600)
    seen = _seen_keys(users, rng.integers(0, n_items, 600), n_items)
    groups = np.repeat(np.arange(12), 50)
    neg_users, neg_items = sample_negatives(
        users, n_items, seen, 4, np.random.default_rng(0), candidates, groups, pool_size=16
    )
    assert neg_users.tolist() == np.repeat(users, 4).tolist()
    assert np.isin(neg_items, candidates).all()
    per_group = [set(neg_items[np.repeat(groups, 4) == g].tolist()) for g in range(12)]
    assert all(1 < len(items) <= 16 for items in per_group)
    assert not np.isin(neg_users * n_items + neg_items, seen).any()
    assert len(set().union(*per_group)) > 16 * 4  # pools differ: not one fixed pool
    # Without groups (or with pool_size 0) the draws are the unpooled ones, bit for bit.
    plain = sample_negatives(users, n_items, seen, 4, np.random.default_rng(0), candidates)
    unpooled = sample_negatives(
        users, n_items, seen, 4, np.random.default_rng(0), candidates, groups, pool_size=0
    )
    np.testing.assert_array_equal(plain[1], unpooled[1])
    with pytest.raises(ValueError, match="group index"):
        sample_negatives(users, n_items, seen, 4, rng, candidates, groups[:-1], pool_size=4)


def test_negative_pool_limits_each_steps_distinct_negatives_and_still_learns(monkeypatch) -> None:
    """``training.negative_pool``: a step's sampled negatives are at most that many distinct
    items (its positives' negatives share the step's pool), and the planted signal is learned
    as without the pool."""
    from mtrec.training import trainer

    split, item_emb, user_emb, user_ids, item_ids = _planted(n_users=40, per_user=12)
    seen_steps: list[tuple[int, int]] = []
    real_batch = trainer._batch

    def recording_batch(rows_of_epoch, rows, *args):
        batch, link_labels = real_batch(rows_of_epoch, rows, *args)
        negatives = rows >= len(split.train)  # rows P.. are the sampled negatives
        seen_steps.append((int(negatives.sum()), len(torch.unique(batch["item"][negatives]))))
        return batch, link_labels

    monkeypatch.setattr(trainer, "_batch", recording_batch)
    scores = {}
    for pool in (None, 5):
        seen_steps.clear()
        config = TRAINING.model_copy(update={"negative_pool": pool, "epochs": 8})
        model = build_model(MODEL, split.train, item_emb, user_emb)
        result = train_multitask(
            model,
            split.train,
            MODEL.tasks,
            config,
            lambda network: evaluate_ranking(
                network.score_items,
                40,
                split.valid["user_idx"].to_numpy(),
                split.valid["item_idx"].to_numpy(),
                split.train["user_idx"].to_numpy(),
                split.train["item_idx"].to_numpy(),
                (10,),
            )[0],
        )
        scores[pool] = result.best_valid["ndcg@10"]
        most = max(distinct for _, distinct in seen_steps)
        # A step's rows can hold the tail of the previous step's positives: two pools at most.
        if pool:
            assert most <= 2 * pool
            assert np.mean([d for _, d in seen_steps]) <= pool + 1
        else:
            assert most > 2 * 5
    assert scores[5] > 0.3 and scores[None] > 0.3


def test_negative_pool_needs_sampled_negatives() -> None:
    with pytest.raises(ValueError, match="negative_pool"):
        TrainingConfig(negative_pool=256, ranking_loss="softmax")
    assert TrainingConfig(negative_pool=256).negative_pool == 256
    with pytest.raises(ValueError):
        TrainingConfig(negative_pool=0)
