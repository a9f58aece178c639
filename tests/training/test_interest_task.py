"""The interest task: next-period topic share labels, its head, and training on a planted signal."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch

from mtrec.config import ModelConfig, TaskConfig, TrainingConfig, metric_direction
from mtrec.data.labels import next_topic_shares
from mtrec.evaluation.evaluate import interest_kl, model_interest_shares, model_latent_interests
from mtrec.evaluation.interests import Topics, with_model_interests
from mtrec.models.serialization import load_trained_model, save_trained_model
from mtrec.models.spec import InterestBlend
from mtrec.workflows.fit import (
    build_model,
    choose_interest_blend,
    fit_recommender,
    refit_recommender,
    with_interest_blend,
)
from mtrec.workflows.inputs import ModelInputs
from tests.training.test_trainer import _planted

TASKS = {
    "watch": {"kind": "ranking", "label": "interaction"},
    "interest": {"weight": 1.0, "horizon": 2},
}
MODEL = ModelConfig(
    embedding_dim=8, hidden_dims=(16,), tower_dims=(8,), dropout=0.0, history_length=4, tasks=TASKS
)


def test_next_topic_shares_count_the_row_and_the_next_ones_of_its_user_in_time_order() -> None:
    frame = pd.DataFrame(
        {  # user 0's rows out of time order; user 1 has one row
            "user_idx": [0, 0, 1, 0, 0],
            "item_idx": [2, 0, 3, 3, 1],
            "timestamp": [30, 10, 5, 40, 20],
        }
    )
    topics = np.array([0, 0, 1, 1])  # items 0, 1 -> topic 0; items 2, 3 -> topic 1
    labels = next_topic_shares(frame, topics, 2, horizon=2)
    # user 0 in time order: items 0, 1, 2, 3 (topics 0, 0, 1, 1)
    assert labels.tolist() == [
        [0.0, 1.0],  # item 2 at t=30: itself and item 3
        [1.0, 0.0],  # item 0 at t=10: itself and item 1
        [0.0, 1.0],  # user 1's only row
        [0.0, 1.0],  # item 3 at t=40: the user's last, itself only
        [0.5, 0.5],  # item 1 at t=20: itself (topic 0) and item 2 (topic 1)
    ]


def test_interest_task_config() -> None:
    task = TaskConfig(kind="interest", label="topics")
    assert task.task_metric == "kl" and task.direction == "min" and task.user_level
    assert metric_direction("valid.interest_kl") == "min"
    assert MODEL.tasks["interest"].horizon == 2  # the built-in definition, horizon overridden
    with pytest.raises(ValueError, match="go together"):
        TaskConfig(kind="interest", label="rating")
    with pytest.raises(ValueError, match="does not fit"):
        TaskConfig(kind="interest", label="topics", metric="auc")


def test_the_interest_head_needs_topics_and_starts_from_the_history_window() -> None:
    split, item_emb, user_emb, _, _ = _planted()
    with pytest.raises(ValueError, match="item topics"):
        build_model(MODEL, split.train, item_emb, user_emb)
    topics = (np.arange(40) >= 20).astype(np.int64)  # even users' items are topic 0
    torch.manual_seed(0)
    model = build_model(MODEL, split.train, item_emb, user_emb, item_topics=topics).eval()
    assert model.spec.n_topics == 2 and model.spec.interest_tasks == ("interest",)
    shares = model_interest_shares(model, 24)
    assert shares.shape == (24, 2)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-6)
    # Untrained, the head's logits are small and the window's shares (floor 0.05) lead.
    assert (shares[0::2, 0] > 0.8).all() and (shares[1::2, 1] > 0.8).all()
    out = model({"user": torch.tensor([0, 1]), "item": torch.tensor([0, 30])})
    assert out["interest"].shape == (2, 2)


def test_scoring_counts_each_users_topics_over_every_known_interaction() -> None:
    split, item_emb, user_emb, _, _ = _planted()
    topics = (np.arange(40) >= 20).astype(np.int64)
    model = build_model(MODEL, split.train, item_emb, user_emb, item_topics=topics).eval()
    model.set_history(np.array([2, 0, 2, 2]), np.array([25, 3, 4, 30]), np.array([3, 1, 1, 2]))
    users = torch.tensor([2, 0, 1, 2])
    # User 2 knows items 4 (topic 0), 30 and 25 (topic 1); user 0 item 3; user 1 nothing.
    expected = [[1.0, 2.0], [1.0, 0.0], [0.0, 0.0], [1.0, 2.0]]
    assert model.known_topic_counts(users).tolist() == expected
    # The per-user table says what the running counts do for a cursor past the user's end.
    end = model.history_indptr[users + 1]
    assert model.known_topic_counts(users, end).tolist() == expected
    # A new history is read at once: the tables are rebuilt, not reused.
    model.set_history(np.array([1]), np.array([0]), np.array([0]))
    assert model.known_topic_counts(torch.tensor([1, 2])).tolist() == [[1.0, 0.0], [0.0, 0.0]]


def test_training_learns_the_planted_interests() -> None:
    split, item_emb, user_emb, user_ids, item_ids = _planted()
    topics = (np.arange(40) >= 20).astype(np.int64)
    no_history = MODEL.model_copy(update={"history_length": 0})  # the head alone learns
    training = TrainingConfig(epochs=8, batch_size=64, learning_rate=0.02, patience=8, seed=3)
    trained, result = fit_recommender(
        split.train,
        split.valid,
        ModelInputs(item_emb, user_emb, user_ids, item_ids, item_topics=topics),
        no_history,
        training,
    )
    curve = [log.valid["interest_kl"] for log in result.history]
    losses = [log.losses["interest"] for log in result.history]
    assert losses[-1] < 0.5 * losses[0]
    # Each valid user's period is one topic: uniform shares would cost log 2 nats.
    assert min(curve) < 0.1 * math.log(2)
    head_alone = with_interest_blend(trained, InterestBlend()).build()
    head_kl = interest_kl(head_alone, split.valid, "interest")
    assert head_kl == pytest.approx(result.best_valid["interest_kl"], rel=1e-5)
    # The forecast's blend with the ranking task is chosen on valid: it fits valid no worse.
    assert interest_kl(trained.build(), split.valid, "interest") <= head_kl + 1e-9

    # The learned interests, latent (ranking scores) and predicted (the task), per user.
    model = trained.build()
    topics = Topics(
        topics, np.eye(2, dtype=np.float32), ("first half", "second half"), np.array([20, 20])
    )
    latent = model_latent_interests(model, topics)
    assert latent.distribution.shape == (24, 2) and latent.top.shape == (24, 2)
    assert (latent.top[0::2, 0] == 0).all() and (latent.top[1::2, 0] == 1).all()
    predicted = model_interest_shares(model, 24)
    profiles = pd.DataFrame({"user_idx": [1, 0], "long_term_top": ["x", "y"]})
    frame = with_model_interests(profiles, topics, latent.distribution, predicted)
    for column in ("latent_top", "predicted_top"):
        first = [value.split(" (")[0] for value in frame[column]]
        assert first == ["second half", "first half"], column


@pytest.mark.parametrize("interaction", ["dot", "neumf"])
def test_mean_scores_over_item_groups_equal_the_catalogue_scores_averaged(interaction) -> None:
    split, item_emb, user_emb, _, _ = _planted()
    config = ModelConfig.model_validate(
        MODEL.model_dump() | {"ranking_interaction": interaction, "tasks": {"watch": {}}}
    )
    torch.manual_seed(1)
    model = build_model(config, split.train, item_emb, user_emb).eval()
    groups = torch.zeros(40, 4)
    groups[:25, 0], groups[25:, 1], groups[7, 3] = 1 / 25, 1 / 15, 1.0  # group 2 is empty
    users = torch.arange(24)
    with torch.inference_mode():
        expected = model.score_items(users) @ groups
        means = model.mean_scorer(groups)(users)
    torch.testing.assert_close(means, expected, rtol=1e-5, atol=1e-5)
    assert (means[:, 2] == 0).all()


def _topic_model(history_length: int = 4):
    split, item_emb, user_emb, user_ids, item_ids = _planted()
    topics = (np.arange(40) >= 20).astype(np.int64)  # items 0-19 topic 0, 20-39 topic 1
    torch.manual_seed(0)
    config = MODEL.model_copy(update={"history_length": history_length})
    model = build_model(config, split.train, item_emb, user_emb, item_topics=topics).eval()
    return model, split, ModelInputs(item_emb, user_emb, user_ids, item_ids, item_topics=topics)


def test_the_ranking_tasks_expected_topics_leave_out_the_known_items() -> None:
    model, _, _ = _topic_model()
    # User 0 knows every topic-0 item, user 1 items 0 and 25, user 2 the whole catalogue.
    users = np.r_[np.zeros(20), [1, 1], np.full(40, 2)].astype(np.int64)
    items = np.r_[np.arange(20), [0, 25], np.arange(40)].astype(np.int64)
    model.set_history(users, items, np.zeros(len(users)))
    idx = torch.tensor([0, 1, 2, 3])
    with torch.inference_mode():
        shares = model.ranking_topic_shares(idx, (0.5, 2.0))
        scores = model.score_items(idx)
    assert shares.shape == (2, 4, 2)
    torch.testing.assert_close(shares.sum(-1), torch.ones(2, 4))
    assert (shares[:, 0, 0] == 0).all()  # only topic 1 is new to user 0
    torch.testing.assert_close(shares[:, 2], torch.full((2, 2), 0.5))  # all known: uniform
    # User 1 by hand: the softmax of scores / t over the 38 items it does not know.
    for t, temperature in enumerate((0.5, 2.0)):
        probabilities = torch.softmax(
            (scores[1] / temperature).index_fill(0, torch.tensor([0, 25]), -torch.inf), 0
        )
        expected = torch.stack([probabilities[:20].sum(), probabilities[20:].sum()])
        torch.testing.assert_close(shares[t, 1], expected)


def test_the_forecast_blends_the_head_with_the_ranking_tasks_expected_topics() -> None:
    model, _, _ = _topic_model()
    idx = torch.arange(6)
    with torch.inference_mode():
        logits = model.interest_logits("interest", model.task_users(idx)["interest"], idx)
        assert model.spec.interest_blend == InterestBlend()  # the head alone by default
        torch.testing.assert_close(model.interest_shares(idx), torch.softmax(logits, -1))
        expected = model.ranking_topic_shares(idx, (0.3,))[0]
        model.spec = dataclasses.replace(
            model.spec,
            interest_head_weight=0.4,
            interest_ranking_weight=0.8,
            interest_ranking_temperature=0.3,
        )
        blended = model.interest_shares(idx)
    torch.testing.assert_close(blended, torch.softmax(0.4 * logits + 0.8 * torch.log(expected), -1))
    with pytest.raises(ValueError, match="temperature"):
        InterestBlend(1.0, 0.5, 0.0)
    with pytest.raises(ValueError, match=">= 0"):
        InterestBlend(-0.1, 0.5, 1.0)


def test_the_blend_is_chosen_on_valid_and_kept_by_refits_and_saved_models(tmp_path) -> None:
    _, split, inputs = _topic_model()
    training = TrainingConfig(epochs=3, batch_size=64, learning_rate=0.02, patience=3, seed=3)
    trained, _ = fit_recommender(split.train, split.valid, inputs, MODEL, training)
    again = choose_interest_blend(with_interest_blend(trained, InterestBlend()), split.valid, 3)
    assert trained.spec.interest_blend == again  # what fit_recommender chose, reproducibly
    # Fewer users than the valid period holds: a sample, and still a valid blend.
    assert isinstance(choose_interest_blend(trained, split.valid, 3, max_users=5), InterestBlend)
    planted = with_interest_blend(trained, InterestBlend(0.4, 0.6, 0.3))
    history = pd.concat([split.train, split.valid], ignore_index=True)
    for refit_from in ("trained", "scratch"):
        config = training.model_copy(update={"refit_from": refit_from, "refit_epochs": 1})
        refit, _ = refit_recommender(history, inputs, MODEL, config, 1, start=planted)
        assert refit.spec.interest_blend == InterestBlend(0.4, 0.6, 0.3), refit_from
    save_trained_model(planted, tmp_path / "model")
    assert load_trained_model(tmp_path / "model").spec.interest_blend == planted.spec.interest_blend
