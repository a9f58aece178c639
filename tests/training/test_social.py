"""Social input and link prediction on generated data with planted homophily."""

import numpy as np
import pandas as pd
import pytest
import torch

from mtrec.config import ModelConfig, SplitConfig, TrainingConfig
from mtrec.data.labels import held_out_edges, social_edges
from mtrec.data.prepare import index_edges
from mtrec.data.split import split_interactions
from mtrec.evaluation.evaluate import link_metrics, rank_split
from mtrec.workflows.fit import fit_recommender
from mtrec.workflows.inputs import ModelInputs

N_USERS, N_ITEMS, GROUPS = 600, 60, 6
GROUP_ITEMS = N_ITEMS // GROUPS


def _homophily(seed: int = 0):
    """Six communities, each with its own ten items. A user has five interactions, three with
    their community's items and two at random, and eight friends, seven of them in their own
    community. Two training interactions are a noisy hint of a user's community; the friends'
    sixteen are a clear one."""
    rng = np.random.default_rng(seed)
    community = np.arange(N_USERS) % GROUPS
    rows = []
    for user in range(N_USERS):
        own = rng.choice(GROUP_ITEMS, size=3, replace=False) + GROUP_ITEMS * community[user]
        noise = rng.choice(N_ITEMS, size=2, replace=False)
        items = list(dict.fromkeys(rng.permutation([*own, *noise]).tolist()))
        for t, item in enumerate(items):
            rows.append((f"u{user}", f"i{item}", 4.0, 1_000 + t))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    frame["user_idx"] = frame["user_id"].str[1:].astype(int)
    frame["item_idx"] = frame["item_id"].str[1:].astype(int)
    pairs = []
    for user in range(N_USERS):
        same = np.flatnonzero((community == community[user]) & (np.arange(N_USERS) != user))
        diff = np.flatnonzero(community != community[user])
        friends = [*rng.choice(same, 7, replace=False), *rng.choice(diff, 1)]
        pairs += [(f"u{user}", f"u{f}") for f in friends]
    users = pd.DataFrame(
        {"user_id": [f"u{u}" for u in range(N_USERS)], "user_idx": np.arange(N_USERS)}
    )
    edges = index_edges(pd.DataFrame(pairs, columns=["user_id", "friend_id"]), users)
    return frame, users, edges


MODEL = ModelConfig.model_validate(
    {
        "architecture": "shared_bottom",
        "embedding_dim": 8,
        "hidden_dims": [16],
        "tower_dims": [8],
        "use_text": False,
        "tasks": {"watch": {}},
        "dropout": 0.0,
    }
)  # dropout 0: a network this small learns the links only without it
TRAINING = TrainingConfig(epochs=20, batch_size=64, learning_rate=0.01, patience=20, seed=3)


def test_index_edges_is_undirected_and_clean() -> None:
    users = pd.DataFrame({"user_id": ["a", "b", "c"], "user_idx": [0, 1, 2]})
    raw = pd.DataFrame(
        {"user_id": ["a", "b", "a", "a", "zz"], "friend_id": ["b", "a", "a", "c", "a"]}
    )
    edges = index_edges(raw, users)
    assert edges.values.tolist() == [[0, 1], [0, 2], [1, 0], [2, 0]]


def test_held_out_edges_keep_both_directions_together() -> None:
    _, _, edges = _homophily()
    held = held_out_edges(edges)
    pairs = set(map(tuple, edges[held][["user_idx", "friend_idx"]].to_numpy()))
    assert 0.05 < held.mean() < 0.15
    assert all((b, a) in pairs for a, b in pairs)
    link = ModelConfig.model_validate({"tasks": {"watch": {}, "friendship": {}}}).tasks
    assert len(social_edges(edges, link)) == (~held).sum()
    assert len(social_edges(edges, MODEL.tasks)) == len(edges)  # no link task: all edges


SEEDS = (1, 2, 3, 4, 5)


@pytest.fixture(scope="module")
def trained_pairs():
    """Models without and with the social input, for each of three training seeds: on data
    this small one seed's difference is noisy."""
    frame, users, edges = _homophily()
    split = split_interactions(frame, SplitConfig(ratios=(0.4, 0.2, 0.4), seed=0))
    rng = np.random.default_rng(1)
    item_emb = rng.normal(size=(N_ITEMS, 4)).astype(np.float32)
    user_emb = rng.normal(size=(N_USERS, 4)).astype(np.float32)
    item_ids = pd.Series([f"i{i}" for i in range(N_ITEMS)])
    runs = {}
    for seed in SEEDS:
        for social in (False, True):
            runs[seed, social] = fit_recommender(
                split.train,
                split.valid,
                ModelInputs(
                    item_emb, user_emb, users["user_id"], item_ids, edges=edges if social else None
                ),
                MODEL,
                TRAINING.model_copy(update={"seed": seed}),
            )[0].build()
    return split, edges, runs


def test_the_social_input_helps_under_homophily(trained_pairs) -> None:
    split, _, runs = trained_pairs
    history = pd.concat([split.train, split.valid])
    ndcg = {
        key: rank_split(model.score_items, N_ITEMS, split.test, history, (10,)).metrics["ndcg@10"]
        for key, model in runs.items()
    }
    assert all(runs[s, True].spec.n_friend_links > 0 for s in SEEDS)
    assert all(runs[s, False].spec.n_friend_links == 0 for s in SEEDS)
    gains = [ndcg[s, True] - ndcg[s, False] for s in SEEDS]
    # Seeds 1-3 measured +0.048, +0.053, +0.030 with one install and +0.011, -0.006, +0.054
    # with another (NDCG@10 about 0.10 without the social input): on data this small a seed's
    # difference is noisy, so the claim is the mean over five seeds, and most of them.
    assert np.mean(gains) > 0.02, gains
    assert sum(gain > 0 for gain in gains) >= 4, gains


def test_link_task_predicts_held_out_edges() -> None:
    frame, users, edges = _homophily(seed=5)
    split = split_interactions(frame, SplitConfig(ratios=(0.8, 0.1, 0.1), seed=0))
    config = ModelConfig.model_validate(
        {**MODEL.model_dump(), "tasks": {"watch": {}, "friendship": {"weight": 1.0}}}
    )
    rng = np.random.default_rng(1)
    trained, result = fit_recommender(
        split.train,
        split.valid,
        ModelInputs(
            rng.normal(size=(N_ITEMS, 4)).astype(np.float32),
            rng.normal(size=(N_USERS, 4)).astype(np.float32),
            users["user_id"],
            pd.Series([f"i{i}" for i in range(N_ITEMS)]),
            edges=edges,
        ),
        config,
        TRAINING.model_copy(update={"epochs": 12, "patience": 12}),
    )
    assert "friendship" in result.history[0].losses
    model = trained.build()
    metrics = link_metrics(model, edges, config.tasks)
    # Held-out friends share a community 7 times in 8; random pairs one time in 6.
    assert metrics["friendship_auc"] > 0.7
    assert model.spec.n_friend_links == (~held_out_edges(edges)).sum()
    torch.testing.assert_close(
        model.friend_indptr[-1], torch.tensor(model.spec.n_friend_links), check_dtype=False
    )
