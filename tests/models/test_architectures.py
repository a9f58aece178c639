"""Every architecture honours the shared interface: shapes, grid scoring equal to pair scoring,
unseen items scored from text alone, a save/load round trip, and training that learns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mtrec.config import ModelConfig, TrainingConfig
from mtrec.models.mmoe import MMoERecommender
from mtrec.models.networks import ARCHITECTURES, build_network
from mtrec.models.ple import PLERecommender
from mtrec.models.serialization import TrainedModel
from mtrec.models.spec import ModelSpec
from mtrec.workflows.fit import fit_recommender
from mtrec.workflows.inputs import ModelInputs

N_USERS, N_ITEMS = 6, 9
SETTINGS = [
    ("shared_bottom", {}),
    ("mmoe", {"n_experts": 3}),
    ("ple", {"n_experts": 2, "n_task_experts": 1, "levels": 1}),
    ("ple", {"n_experts": 2, "n_task_experts": 2, "levels": 2}),
    ("ple", {"n_experts": 2, "ranking_interaction": "dot"}),
    ("mmoe", {"n_experts": 2, "ranking_interaction": "dot"}),
]


def _network(architecture: str, item_seen: torch.Tensor | None = None, **extra: int | str):
    torch.manual_seed(0)
    spec = ModelSpec(
        n_users=N_USERS,
        n_items=N_ITEMS,
        user_text_dim=5,
        item_text_dim=7,
        embedding_dim=8,
        hidden_dims=(12, 10),
        tower_dims=(6,),
        architecture=architecture,
        # No history, no dropout, the pair head, four experts: what these cases were built on.
        **{"history_length": 0, "dropout": 0.0, "ranking_interaction": "neumf", "n_experts": 4}
        | extra,
    )
    network = build_network(spec, torch.randn(N_USERS, 5), torch.randn(N_ITEMS, 7), None, item_seen)
    return network.eval()


def test_every_configurable_architecture_is_registered():
    assert set(ARCHITECTURES) == {"shared_bottom", "mmoe", "ple"}
    assert isinstance(_network("mmoe"), MMoERecommender)
    assert isinstance(_network("ple"), PLERecommender)


@pytest.mark.parametrize(("architecture", "extra"), SETTINGS)
def test_interface_shapes_and_grid_equals_pairs(architecture, extra):
    network = _network(architecture, **extra)
    users = torch.arange(N_USERS).repeat_interleave(N_ITEMS)
    items = torch.arange(N_ITEMS).repeat(N_USERS)
    with torch.no_grad():
        out = network({"user": users, "item": items})
        assert set(out) == {"watch", "like", "rating"}
        assert all(value.shape == (N_USERS * N_ITEMS,) for value in out.values())
        for task in ("watch", "like"):
            grid = network.score_items(torch.arange(N_USERS), task)  # (U, I)
            torch.testing.assert_close(grid.reshape(-1), out[task], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("architecture", "extra"), SETTINGS)
def test_unseen_item_is_scored_from_text_not_from_its_id_row(architecture, extra):
    seen = torch.ones(N_ITEMS)
    seen[3] = 0.0
    network = _network(architecture, item_seen=seen, **extra)
    with torch.no_grad():
        before = network.score_items(torch.arange(N_USERS))[:, 3].clone()
        network.item_inputs.ids.weight[3] = torch.randn(8) * 10
        after = network.score_items(torch.arange(N_USERS))[:, 3]
        torch.testing.assert_close(before, after)
        network.item_text[3] = torch.randn(7)
        assert not torch.allclose(network.score_items(torch.arange(N_USERS))[:, 3], after)


@pytest.mark.parametrize(("architecture", "extra"), SETTINGS)
def test_save_load_round_trip_keeps_scores(architecture, extra):
    network = _network(architecture, **extra)
    trained = TrainedModel(
        spec=network.spec,
        state_dict={k: v.clone() for k, v in network.state_dict().items()},
        user_ids=tuple(f"u{i}" for i in range(N_USERS)),
        item_ids=tuple(f"i{i}" for i in range(N_ITEMS)),
    )
    rebuilt = trained.build()
    assert type(rebuilt) is type(network)
    with torch.no_grad():
        torch.testing.assert_close(
            rebuilt.score_items(torch.arange(N_USERS)), network.score_items(torch.arange(N_USERS))
        )


@pytest.mark.parametrize(("architecture", "extra"), SETTINGS)
def test_forward_once_per_distinct_id_equals_a_pass_per_row(architecture, extra):
    """The side networks run once per distinct user and item of a batch; every row must still
    get its own pass's output, and the gradients must be the same as well."""
    network = _network(architecture, **extra)
    users = torch.tensor([0, 3, 3, 1, 0, 5, 3])
    items = torch.tensor([2, 2, 8, 2, 4, 4, 0])
    out = network({"user": users, "item": items})
    per_row_users, per_row_items = network.task_users(users), network.task_items(items)
    for task, tower in network.towers.items():
        expected = tower.pair(per_row_users[task], per_row_items[task])
        expected = expected + network.spec.offsets.get(task, 0.0)
        torch.testing.assert_close(out[task], expected)
    grads = torch.autograd.grad(
        sum(v.sum() for v in out.values()), list(network.parameters()), allow_unused=True
    )
    reference = sum(
        tower.pair(per_row_users[t], per_row_items[t]).sum() for t, tower in network.towers.items()
    )
    expected_grads = torch.autograd.grad(reference, list(network.parameters()), allow_unused=True)
    for got, want in zip(grads, expected_grads, strict=True):
        assert (got is None) == (want is None)
        if got is not None:
            torch.testing.assert_close(got, want)


@pytest.mark.parametrize(("architecture", "extra"), SETTINGS)
def test_task_rows_compute_a_head_on_those_rows_only(architecture, extra):
    """Training asks for the rating and like heads on the positives only: their outputs are
    then the full pass's outputs at those rows, in the order asked, and other tasks keep every
    row."""
    network = _network(architecture, **extra)
    users = torch.tensor([0, 3, 3, 1, 0, 5, 3])
    items = torch.tensor([2, 2, 8, 2, 4, 4, 0])
    full = network({"user": users, "item": items})
    wanted = torch.tensor([5, 1, 2])
    out = network({"user": users, "item": items}, {"rating": wanted, "like": wanted[:0]})
    torch.testing.assert_close(out["rating"], full["rating"][wanted])
    assert out["like"].shape == (0,)
    torch.testing.assert_close(out["watch"], full["watch"])


def test_dot_ranking_head_is_one_matrix_product():
    network = _network("ple", n_experts=2, ranking_interaction="dot")
    tower = network.towers["watch"]
    assert not any(isinstance(m, torch.nn.Sequential) for m in tower.modules())
    assert type(network.towers["like"]).__name__ == "PairTower"  # other tasks keep NeuMF
    with torch.no_grad():
        u = network.task_users(torch.arange(N_USERS))["watch"]
        v = network.task_items(torch.arange(N_ITEMS))["watch"]
        w, b = tower.gmf.weight[0], tower.gmf.bias
        expected = (u * w) @ v.T + b + (u @ tower.w_user.weight[0])[:, None]
        expected = expected + (v @ tower.w_item.weight[0])[None, :]
        torch.testing.assert_close(network.score_items(torch.arange(N_USERS)), expected)


def test_unknown_ranking_interaction_is_refused():
    with pytest.raises(ValueError, match="ranking_interaction"):
        ModelSpec(n_users=2, n_items=2, user_text_dim=3, item_text_dim=3, ranking_interaction="mlp")
    with pytest.raises(ValueError, match="ranking_interaction"):
        ModelConfig(ranking_interaction="mlp")


def test_mmoe_gates_are_per_task_mixtures():
    network = _network("mmoe", n_experts=3)
    x = torch.randn(4, network.user_inputs.out_dim)
    for gate in network.user_net.gates.values():
        weights = torch.softmax(gate(x), dim=-1)
        torch.testing.assert_close(weights.sum(-1), torch.ones(4))
    assert len(network.user_net.experts) == 3


@pytest.mark.parametrize("architecture", ["mmoe", "ple"])
def test_expert_models_learn_a_planted_signal(architecture):
    rng = np.random.default_rng(0)
    rows = []
    for user in range(20):
        liked = range(0, 10) if user % 2 == 0 else range(10, 20)
        for t, item in enumerate(rng.choice(list(liked), size=8, replace=False)):
            rows.append((user, int(item), 5.0 if user % 2 == 0 else 3.0, t))
    frame = pd.DataFrame(rows, columns=["user_idx", "item_idx", "rating", "timestamp"])
    train = frame.groupby("user_idx").head(6)
    valid = frame.drop(train.index)
    _, result = fit_recommender(
        train,
        valid,
        ModelInputs(
            rng.normal(size=(20, 4)).astype(np.float32),
            rng.normal(size=(20, 4)).astype(np.float32),
            pd.Series([f"u{i}" for i in range(20)]),
            pd.Series([f"i{i}" for i in range(20)]),
        ),
        ModelConfig(
            architecture=architecture,
            embedding_dim=8,
            hidden_dims=(16,),
            tower_dims=(8,),
            n_experts=2,
        ),
        TrainingConfig(epochs=8, batch_size=32, learning_rate=0.01, patience=8),
    )
    losses = [log.losses["total"] for log in result.history]
    assert losses[-1] < losses[0]
    # Random ranking of 10 candidates for 2 relevant items gives NDCG@10 near 0.35.
    assert result.best_valid["ndcg@10"] > 0.5


def _loop_level(level, task_x, shared_x):
    """A PLE level written out as in the paper: each expert, then each gate's weighted sum."""
    shared = [expert(shared_x) for expert in level.shared]
    own = {t: [expert(task_x[t]) for expert in level.own[t]] for t in level.tasks}
    mixed = {}
    for task in level.tasks:
        pool = torch.stack(own[task] + shared, dim=1)  # own experts first, then shared
        weights = torch.softmax(level.gates[task](task_x[task]), dim=-1).unsqueeze(-1)
        mixed[task] = (weights * pool).sum(dim=1)
    if level.shared_gate is None:
        return mixed, shared_x
    everything = torch.stack(shared + [e for t in level.tasks for e in own[t]], dim=1)
    weights = torch.softmax(level.shared_gate(shared_x), dim=-1).unsqueeze(-1)
    return mixed, (weights * everything).sum(dim=1)


@pytest.mark.parametrize(("n_own", "levels"), [(1, 1), (2, 2), (1, 3)])
def test_ple_batched_experts_and_gates_equal_the_loop_over_them(n_own, levels):
    """The wide expert product and the batched gate mixing compute the paper's level, with the
    same parameters (so saved models keep their meaning), values and gradients alike."""
    torch.manual_seed(3)
    spec = ModelSpec(
        n_users=4,
        n_items=4,
        user_text_dim=3,
        item_text_dim=3,
        hidden_dims=(12, 10),
        architecture="ple",
        n_experts=3,
        n_task_experts=n_own,
        levels=levels,
        history_length=0,
        dropout=0.0,
        ranking_interaction="neumf",
    )
    side = PLERecommender.side(16, spec).train()  # dropout 0: training mode is deterministic
    x = torch.randn(7, 16, requires_grad=True)
    batched = side(x)
    task_x, shared_x = dict.fromkeys(spec.tasks, x), x
    for level in side.levels:
        task_x, shared_x = _loop_level(level, task_x, shared_x)
    for task in spec.tasks:
        torch.testing.assert_close(batched[task], task_x[task], atol=1e-6, rtol=1e-5)
    first = torch.autograd.grad(
        sum(v.square().sum() for v in batched.values()), [x, *side.parameters()]
    )
    second = torch.autograd.grad(
        sum(v.square().sum() for v in task_x.values()), [x, *side.parameters()]
    )
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
