"""The history-aware user side: what it reads, that nothing later leaks in, and that a user's
new interactions move their recommendations with no retraining."""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import bare_spec

from mtrec.config import ModelConfig, SplitConfig, TaskConfig, TrainingConfig
from mtrec.data.split import split_interactions
from mtrec.models.serialization import TrainedModel
from mtrec.models.spec import ModelSpec
from mtrec.registry.recommend import recommend
from mtrec.training.trainer import history_cursors
from mtrec.workflows.fit import build_model, fit_recommender, refit_recommender
from mtrec.workflows.inputs import ModelInputs


def _spec(length: int = 3, pooling: str = "attention") -> ModelSpec:
    return bare_spec(
        n_users=3,
        n_items=6,
        user_text_dim=4,
        item_text_dim=4,
        embedding_dim=4,
        hidden_dims=(8,),
        tower_dims=(4,),
        history_length=length,
        history_pooling=pooling,
        ranking_interaction="dot",
    )


def _model(length: int = 3, pooling: str = "attention"):  # noqa: ANN202
    from mtrec.models.networks import build_network

    torch.manual_seed(0)
    return build_network(_spec(length, pooling), torch.randn(3, 4), torch.randn(6, 4)).eval()


def test_set_history_orders_by_user_then_time_and_windows_read_newest_first() -> None:
    model = _model(length=3)
    users = np.array([1, 0, 1, 1, 1, 0])
    items = np.array([5, 2, 4, 3, 1, 0])
    times = np.array([40, 10, 10, 30, 10, 5])  # user 1: items 4 and 1 tie at 10, file order
    order = model.set_history(users, items, times)
    assert model.history_indptr.tolist() == [0, 2, 6, 6]
    assert model.history_items.tolist() == [0, 2, 4, 1, 3, 5]
    assert order.tolist() == [5, 1, 2, 4, 3, 0]
    window, present = model.history_window(torch.tensor([0, 1, 2]))
    assert window[present].tolist() == [2, 0, 5, 3, 1]  # newest first, at most 3
    assert present.tolist() == [[True, True, False], [True, True, True], [False] * 3]
    # A cursor ends the window earlier: user 1's history before its third interaction.
    window, present = model.history_window(torch.tensor([1]), torch.tensor([4]))
    assert window[present].tolist() == [1, 4]


def test_others_context_reads_the_newest_items_except_the_row_itself() -> None:
    from dataclasses import replace

    from mtrec.models.networks import build_network

    model = build_network(
        replace(_spec(length=3), history_context="others"), torch.randn(3, 4), torch.randn(6, 4)
    )
    # User 1's items oldest first: 4 1 3 5 at positions 2..5.
    model.set_history(
        np.array([1, 0, 1, 1, 1, 0]),
        np.array([5, 2, 4, 3, 1, 0]),
        np.array([40, 10, 10, 30, 10, 5]),
    )
    rows = torch.tensor([1, 1, 1])
    window, present = model.history_window(rows, torch.tensor([5, 3, 2]))
    assert window.shape == (3, 4) and present.sum(1).tolist() == [3, 3, 3]
    assert [window[i][present[i]].tolist() for i in range(3)] == [[3, 1, 4], [5, 3, 4], [5, 3, 1]]
    # Scoring reads the newest L, as with ``before``.
    window, present = model.history_window(torch.tensor([1]))
    assert window[present].tolist() == [5, 3, 1]


def test_the_profile_averages_the_readable_items_and_never_the_row_itself() -> None:
    from dataclasses import replace

    from mtrec.models.networks import build_network

    for context in ("before", "others"):
        torch.manual_seed(0)
        spec = replace(_spec(length=0), profile_length=3, history_context=context)
        model = build_network(spec, torch.randn(3, 4), torch.randn(6, 4)).eval()
        model.set_history(
            np.array([1, 1, 1, 1, 1, 0, 0, 0]), np.array([4, 1, 3, 5, 2, 0, 1, 0]), np.arange(8)
        )
        inputs = model.item_inputs(torch.arange(6), model.item_text, model.item_seen)  # (6, 2E)
        with torch.no_grad():
            now = model.profile_input(torch.tensor([1, 2]))
            row = model.profile_input(torch.tensor([1]), torch.tensor([5]))  # item 3 sits at 5
        assert torch.allclose(now[0], inputs[[3, 5, 2]].mean(0))  # the newest 3
        assert torch.equal(now[1], torch.zeros_like(now[1]))  # user 2 knows nothing
        with torch.no_grad():  # user 0 watched item 0 twice: it counts twice
            assert torch.allclose(
                model.profile_input(torch.tensor([0]))[0], inputs[[0, 1, 0]].mean(0), atol=1e-6
            )
        readable = [4, 1] if context == "before" else [5, 2, 1]  # never item 3 itself
        assert torch.allclose(row[0], inputs[readable].mean(0), atol=1e-6), context


def test_history_context_follows_the_split_order() -> None:
    from mtrec.config import RunConfig

    assert RunConfig().model.history_context == "before"
    random = RunConfig.model_validate({"split": {"order": "random"}})
    assert random.model.history_context == "others"
    fixed = RunConfig.model_validate(
        {"split": {"order": "random"}, "model": {"history_context": "before"}}
    )
    assert fixed.model.history_context == "before"


def test_history_changes_the_user_vector_and_an_empty_history_is_finite() -> None:
    for pooling in ("attention", "mean"):
        model = _model(pooling=pooling)
        model.set_history(np.array([0]), np.array([1]), np.array([0]))
        with torch.no_grad():
            before = model.score_items(torch.tensor([0, 2]))
            model.set_history(np.array([0, 0]), np.array([1, 5]), np.array([0, 1]))
            after = model.score_items(torch.tensor([0, 2]))
        assert torch.isfinite(before).all() and torch.isfinite(after).all()
        assert not torch.allclose(before[0], after[0])  # user 0's new item moved its scores
        assert torch.equal(before[1], after[1])  # user 2 has no history either way


def test_set_history_rejects_unknown_indices() -> None:
    with pytest.raises(ValueError, match="history items"):
        _model().set_history(np.array([0]), np.array([6]), np.array([0]))


def _genre_data(n_users: int = 60, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Two genres of 50 items each; every user watches runs of 4 to 8 items of one genre,
    then switches to the other: the next item's genre is the recent history's, not the
    user's overall mix."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        genre, left = user % 2, int(rng.integers(4, 9))
        for step in range(16):
            if left == 0:
                genre, left = 1 - genre, int(rng.integers(4, 9))
            rows.append((user, genre * 50 + int(rng.integers(50)), 1_000 * step + user))
            left -= 1
    frame = pd.DataFrame(rows, columns=["user_idx", "item_idx", "timestamp"])
    frame = frame.drop_duplicates(["user_idx", "item_idx"]).reset_index(drop=True)
    frame["user_id"] = "u" + frame["user_idx"].astype(str)
    frame["item_id"] = "i" + frame["item_idx"].astype(str)
    frame["rating"] = 4.0
    genre_text = np.zeros((100, 8), dtype=np.float32)
    genre_text[:50, 0] = genre_text[50:, 1] = 1.0  # the text says the genre
    genre_text += rng.normal(0, 0.05, genre_text.shape).astype(np.float32)
    user_text = np.zeros((n_users, 8), dtype=np.float32)  # profiles say nothing
    return frame, genre_text, user_text


def _config(length: int) -> tuple[ModelConfig, TrainingConfig]:
    model = ModelConfig(
        architecture="shared_bottom",
        embedding_dim=16,
        hidden_dims=(32,),
        tower_dims=(8,),
        dropout=0.0,
        history_length=length,
        item_id_shrinkage=0.0,
        tasks={"watch": TaskConfig(kind="ranking")},
    )
    training = TrainingConfig(
        epochs=25, batch_size=256, learning_rate=0.01, patience=25, negatives_per_positive=4, seed=0
    )
    return model, training


def test_training_cursors_never_read_the_row_itself_or_anything_later() -> None:
    frame, genre_text, user_text = _genre_data(n_users=6)
    split = split_interactions(frame, SplitConfig(ratios=(0.8, 0.1, 0.1)))
    model_config, _ = _config(length=50)
    model = build_model(model_config, split.train, genre_text, user_text)
    cursors = history_cursors(model, split.train)
    train = split.train
    for row in range(len(train)):
        user = int(train["user_idx"].iloc[row])
        window, present = model.history_window(torch.tensor([user]), torch.tensor([cursors[row]]))
        read = set(window[present].tolist())
        mine = train[train["user_idx"] == user]
        earlier = mine[mine["timestamp"] < train["timestamp"].iloc[row]]
        assert read == set(earlier["item_idx"])  # exactly the earlier training items
    # What scores valid and test is the training history: no valid or test item in it.
    known = set(
        zip(
            np.repeat(np.arange(6), model.history_indptr.diff().numpy()),
            model.history_items.tolist(),
            strict=True,
        )
    )
    assert known == set(zip(train["user_idx"], train["item_idx"], strict=True))
    held_out = pd.concat([split.valid, split.test])
    assert not known & set(zip(held_out["user_idx"], held_out["item_idx"], strict=True))


def test_refit_knows_every_interaction_it_was_given() -> None:
    frame, genre_text, user_text = _genre_data(n_users=6)
    model_config, training = _config(length=5)
    trained, result = refit_recommender(
        frame,
        ModelInputs(
            genre_text,
            user_text,
            frame["user_id"].drop_duplicates().reset_index(drop=True),
            pd.Series([f"i{i}" for i in range(100)]),
        ),
        model_config,
        training.model_copy(update={"refit_from": "scratch"}),
        epochs=3,
    )
    assert result.best_epoch == 3 and len(result.history) == 3
    assert all(log.valid == {} for log in result.history)
    model = trained.build()
    assert len(model.history_items) == len(frame)


def _genre_share(trained: TrainedModel, history: pd.DataFrame, users: list[str]) -> float:
    lists = recommend(trained, history, 10, users)
    return float((lists["item_id"].str[1:].astype(int) >= 50).mean())  # genre 1's share


def test_new_interactions_in_one_genre_move_the_top_10_without_retraining() -> None:
    frame, genre_text, user_text = _genre_data()
    train = frame.groupby("user_idx").head(12)
    valid = frame.drop(train.index).groupby("user_idx").head(2)
    model_config, training = _config(length=8)
    user_ids = pd.Series([f"u{u}" for u in range(60)])
    item_ids = pd.Series([f"i{i}" for i in range(100)])
    trained, _ = fit_recommender(
        train, valid, ModelInputs(genre_text, user_text, user_ids, item_ids), model_config, training
    )
    # Users whose latest training interactions are genre 0 ...
    last = train.sort_values("timestamp").groupby("user_id").tail(1)
    movers = last.loc[last["item_idx"] < 50, "user_id"].tolist()
    assert len(movers) >= 10
    history = train[["user_id", "item_id", "timestamp"]]
    before = _genre_share(trained, history, movers)
    # ... then watch eight genre-1 items: their lists follow them, with the same weights.
    rng = np.random.default_rng(1)
    late = pd.DataFrame(
        [(u, f"i{50 + int(rng.integers(50))}", 100_000 + s) for u in movers for s in range(8)],
        columns=["user_id", "item_id", "timestamp"],
    )
    now = pd.concat([history, late], ignore_index=True)
    after = _genre_share(trained, now, movers)
    assert before < 0.3 and after > before + 0.4, (before, after)
    print(f"genre-1 share of the top 10: {before:.2f} -> {after:.2f}")
    # Without the history input (nor the item-item component, which reads the history too),
    # the same new interactions barely move the lists.
    static_config, _ = _config(length=0)
    static_config = static_config.model_copy(
        update={"item_item": static_config.item_item.model_copy(update={"enabled": False})}
    )
    static, _ = fit_recommender(
        train,
        valid,
        ModelInputs(genre_text, user_text, user_ids, item_ids),
        static_config,
        training,
    )
    moved = _genre_share(static, now, movers) - _genre_share(static, history, movers)
    assert after - before > moved + 0.3, (after - before, moved)
    print(f"without the history input: moved by {moved:.2f}")


def test_a_softmax_ranking_loss_learns_the_planted_genres_and_needs_the_dot_head() -> None:
    from mtrec.evaluation.evaluate import model_ranking

    frame, genre_text, user_text = _genre_data()
    train = frame.groupby("user_idx").head(12)
    test = frame.drop(train.index).groupby("user_idx").head(1)
    model_config, training = _config(length=8)
    softmax = training.model_copy(update={"ranking_loss": "softmax", "batch_size": 128})
    user_ids = pd.Series([f"u{u}" for u in range(60)])
    item_ids = pd.Series([f"i{i}" for i in range(100)])
    trained, result = fit_recommender(
        train, test, ModelInputs(genre_text, user_text, user_ids, item_ids), model_config, softmax
    )
    ndcg = model_ranking(trained.build(), test, train, (10,)).metrics["ndcg@10"]
    # A random ranking of the ~90 unseen items scores about 0.04; the right genre first and
    # random within it, about 0.1.
    assert ndcg > 0.07 and result.history[-1].losses["watch"] < result.history[0].losses["watch"]
    neumf = model_config.model_copy(update={"ranking_interaction": "neumf"})
    with pytest.raises(ValueError, match="softmax"):
        fit_recommender(
            train, test, ModelInputs(genre_text, user_text, user_ids, item_ids), neumf, softmax
        )


@pytest.mark.parametrize("context", ["before", "others"])
def test_known_topic_counts_are_the_counts_of_what_the_row_may_read(context: str) -> None:
    from dataclasses import replace

    from mtrec.models.networks import build_network

    rng = np.random.default_rng(context == "others")
    n_users, n_items, n_topics = 4, 9, 3
    spec = replace(
        _spec(length=2),
        n_users=n_users,
        n_items=n_items,
        n_topics=n_topics,
        history_context=context,
    )
    topic = torch.from_numpy(rng.integers(0, n_topics, n_items))
    model = build_network(spec, torch.randn(n_users, 4), torch.randn(n_items, 4), item_topic=topic)
    users, items = rng.integers(0, n_users - 1, 40), rng.integers(0, n_items, 40)  # user 3: none
    model.set_history(users, items, rng.integers(0, 5, 40))
    known, starts = model.history_items.numpy(), model.history_indptr.numpy()

    def brute(user: int, cursor: int | None) -> list[float]:
        start, end = starts[user], starts[user + 1]
        if cursor is not None and context == "before":
            end = max(cursor, start)
        read = [
            p for p in range(start, end) if cursor is None or context == "before" or p != cursor
        ]
        return np.bincount(topic.numpy()[known[read]], minlength=n_topics).tolist()

    every_user = torch.arange(n_users)
    assert model.known_topic_counts(every_user).tolist() == [brute(u, None) for u in range(4)]
    # Each row at its own position (a training row), and the first position of another user.
    row_users = torch.from_numpy(np.searchsorted(starts, np.arange(len(known)), side="right") - 1)
    cursors = torch.arange(len(known))
    expected = [brute(int(u), int(c)) for u, c in zip(row_users, cursors, strict=True)]
    assert model.known_topic_counts(row_users, cursors).tolist() == expected
    # A new history is read at once: the running counts are rebuilt.
    model.set_history(np.array([3, 3]), np.array([0, 1]), np.array([1, 2]))
    known, starts = model.history_items.numpy(), model.history_indptr.numpy()
    assert model.known_topic_counts(every_user).tolist() == [brute(u, None) for u in range(4)]


def test_a_twin_reading_a_newer_history_shares_the_weights_and_leaves_the_original() -> None:
    model = _model(length=3)
    model.set_history(np.array([0, 1]), np.array([2, 3]), np.array([1, 1]))
    before = model.score_items(torch.arange(3))
    twin = model.reading(np.array([0, 1, 1]), np.array([2, 3, 5]), np.array([1, 1, 2]))
    assert twin.history_items.tolist() == [2, 3, 5]
    assert model.history_items.tolist() == [2, 3]  # the original reads what it read
    torch.testing.assert_close(model.score_items(torch.arange(3)), before, atol=0, rtol=0)
    # One copy of every weight and table: the twin's are the original's tensors.
    for (name, mine), theirs in zip(model.named_parameters(), twin.parameters(), strict=True):
        assert mine is theirs, name
    assert twin.user_text.data_ptr() == model.user_text.data_ptr()
    # User 1's newest item changed: its scores move, user 0's (same history) do not.
    after = twin.score_items(torch.arange(3))
    torch.testing.assert_close(after[0], before[0], atol=0, rtol=0)
    assert not torch.allclose(after[1], before[1])
