"""The ranking task's closed-form item-item component: the text kernel, the fit, the blend,
and how the network, its refit and the served lists carry it."""

import numpy as np
import pandas as pd
import pytest
import torch

from mtrec.config import ItemItemConfig, ModelConfig, TaskConfig, TrainingConfig
from mtrec.models.baselines.ease import EASE
from mtrec.models.item_item import (
    blend,
    cosine_kernel,
    item_item_weights,
    known_matrix,
    search_by_turns,
    standardise,
)
from mtrec.models.serialization import load_trained_model, save_trained_model
from mtrec.models.spec import ItemItemChoice
from mtrec.registry.recommend import recommend
from mtrec.workflows.fit import fit_item_item, fit_recommender, refit_recommender
from mtrec.workflows.inputs import ModelInputs


def test_the_cosine_kernel_is_a_non_negative_psd_power_of_the_cosines() -> None:
    embeddings = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [-1.0, 0.2]])
    kernel = cosine_kernel(embeddings, 4)
    cosines = torch.nn.functional.normalize(embeddings.double(), dim=1)
    assert torch.allclose(kernel, (cosines @ cosines.T) ** 4)
    assert torch.allclose(kernel.diagonal(), torch.ones(4, dtype=torch.float64))
    assert kernel[0, 2] == pytest.approx(0.25)  # cos 45 degrees to the 4th
    assert (kernel >= 0).all()  # item 3 points away from item 0: still >= 0
    assert torch.linalg.eigvalsh(kernel).min() > -1e-12
    with pytest.raises(ValueError, match="even"):
        cosine_kernel(embeddings, 3)


def _counted(value):
    """``value(first, second)`` as a ``search_by_turns`` fit that records its calls and
    returns the pair as what it fitted."""
    calls: list[tuple[float, float]] = []

    def fit(first: float, second: float) -> tuple[float, tuple[float, float]]:
        calls.append((first, second))
        return value(first, second), (first, second)

    return fit, calls


def _higher(new: float, old: float) -> bool:
    return new > old


def test_the_search_by_turns_finds_the_products_best_where_effects_add_up() -> None:
    firsts, seconds = (10.0, 30.0, 100.0, 300.0, 1000.0), (0.0, 30.0, 100.0, 300.0)
    fit, calls = _counted(lambda a, b: -((np.log10(a) - 2.5) ** 2) - ((b - 100.0) / 100) ** 2)
    found = search_by_turns(firsts, seconds, fit, _higher)
    assert (found.first, found.second) == (300.0, 100.0)
    assert found.fitted == (300.0, 100.0)  # the best pair's own fit, not the last one's
    assert found.value == pytest.approx(-((np.log10(300.0) - 2.5) ** 2))
    # l2 along its grid (5), the text weights at l2 300 (3 new), l2 again at text 100 (4 new)
    assert len(calls) == len(set(calls)) == len(found.values) == 12 < len(firsts) * len(seconds)
    assert found.values[100.0, 0.0] == pytest.approx(-1.25)


def test_the_search_by_turns_goes_on_while_a_turn_moves_and_ends_where_none_can() -> None:
    # Coupled parameters: the best first depends on the second, so the search needs rounds.
    firsts, seconds = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0), (0.0, 1.0, 2.0, 3.0, 4.0)

    def value(a: float, b: float) -> float:
        return -((a - b - 1.0) ** 2) - 0.3 * (b - 3.0) ** 2

    fit, calls = _counted(value)
    found = search_by_turns(firsts, seconds, fit, _higher)
    assert (found.first, found.second) == (2.0, 1.0)  # moved twice: (1, 0), then (1, 1)
    assert calls[: len(firsts)] == [(a, 0.0) for a in firsts]
    # Where it ends, neither grid alone improves the pair (a ridge can still hide a better
    # pair: (4, 3) scores 0 here).
    assert all(value(a, found.second) <= found.value for a in firsts)
    assert all(value(found.first, b) <= found.value for b in seconds)
    assert len(calls) == len(set(calls))


def test_the_search_by_turns_keeps_the_earliest_on_a_tie_and_minimises_when_told() -> None:
    fit, calls = _counted(lambda a, b: 1.0)
    flat = search_by_turns((3.0, 1.0, 2.0), (5.0, 4.0), fit, _higher)
    assert (flat.first, flat.second) == (3.0, 5.0)
    assert len(calls) == 4  # each pair once: 3 + 1 new, then nothing moves
    fit, _ = _counted(lambda a, b: a + b)
    lowest = search_by_turns((3.0, 1.0, 2.0), (5.0, 4.0), fit, lambda new, old: new < old)
    assert (lowest.first, lowest.second, lowest.value) == (1.0, 4.0, 5.0)
    with pytest.raises(ValueError, match="at least one"):
        search_by_turns((), (1.0,), fit, _higher)


def _log() -> tuple[np.ndarray, np.ndarray]:
    users = np.array([0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 4, 4])
    items = np.array([0, 1, 0, 1, 2, 1, 2, 0, 3, 2, 3, 0])
    return users, items


def test_without_text_the_weights_are_eases() -> None:
    users, items = _log()
    ease = EASE(users, items, 5, 6, l2=2.0)
    weights = item_item_weights(users, items, 5, 6, 2.0)
    assert torch.allclose(weights, ease.weights)
    assert (weights.diagonal() == 0).all()
    assert (weights[4:] == 0).all() and (weights[:, 4:] == 0).all()  # items 4, 5: no interactions


def test_text_similarity_lends_evidence_to_items_that_rarely_co_occur() -> None:
    users, items = _log()
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.05], [0.3, 0.3], [1.0, 0.0]])
    plain = item_item_weights(users, items, 5, 6, 2.0)
    with_text = item_item_weights(users, items, 5, 6, 2.0, text, 5.0, 4)
    # Items 0 and 3 say nearly the same thing: item 0 predicts item 3 more strongly.
    assert with_text[0, 3] > plain[0, 3] + 0.05
    assert (with_text.diagonal() == 0).all()
    assert (with_text[5] == 0).all() and (with_text[:, 5] == 0).all()  # never seen: nothing


def test_the_network_kernel_adds_its_vectors_similarity_to_the_gram_matrix() -> None:
    users, items = _log()
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.05], [0.3, 0.3], [1.0, 0.0]])
    vectors = torch.tensor(
        [[1.0, 2.0, 0.0], [0.0, 1.0, 1.0], [2.0, 0.0, 1.0], [1.0, 2.0, 0.1], [1, 1, 1], [0, 0, 1]]
    )
    both = item_item_weights(users, items, 5, 6, 2.0, text, 5.0, 4, vectors, 3.0, 2)
    # By hand: EASE over X^T X + 5 K(text) + 3 K(vectors), on the 4 items with interactions.
    x = torch.zeros(5, 6, dtype=torch.float64)
    x[users, items] = 1.0
    seen = torch.arange(4)
    gram = (
        (x.T @ x)[:4, :4]
        + 5.0 * cosine_kernel(text[seen], 4)
        + 3.0 * cosine_kernel(vectors[seen], 2)
    )
    inverse = torch.linalg.inv(gram + 2.0 * torch.eye(4, dtype=torch.float64))
    expected = -inverse / inverse.diagonal()
    expected.fill_diagonal_(0.0)
    assert torch.allclose(both[:4, :4], expected.float(), atol=1e-5)
    assert (both[4:] == 0).all() and (both[:, 4:] == 0).all()
    # Items 0 and 3 have near-equal vectors: the kernel makes each predict the other more.
    text_only = item_item_weights(users, items, 5, 6, 2.0, text, 5.0, 4)
    assert both[0, 3] > text_only[0, 3] and both[3, 0] > text_only[3, 0]
    with pytest.raises(ValueError, match="even"):
        item_item_weights(users, items, 5, 6, 2.0, None, 0.0, 4, vectors, 3.0, 3)


def test_known_matrix_reads_each_users_csr_slice_and_newer_items() -> None:
    indptr = torch.tensor([0, 2, 2, 5])
    known = torch.tensor([3, 1, 0, 4, 0])  # user 2 saw item 0 twice
    matrix = known_matrix(indptr, known, torch.tensor([2, 1, 0]), 5, [np.array([1]), [], []])
    assert matrix.tolist() == [
        [1.0, 1.0, 0.0, 0.0, 1.0],
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 1.0, 0.0],
    ]


def test_the_blend_mixes_per_user_z_scores() -> None:
    network = torch.tensor([[1.0, 2.0, 3.0], [10.0, 10.0, 10.0]])
    item_item = torch.tensor([[30.0, 20.0, 10.0], [0.0, 5.0, 1.0]])
    z = standardise(network)
    assert torch.allclose(z[0], torch.tensor([-1.0, 0.0, 1.0]))
    assert torch.equal(z[1], torch.zeros(3))  # a constant row carries no order
    assert torch.equal(blend(network, item_item, 0.0), z)
    assert torch.allclose(blend(network, item_item, 1.0), standardise(item_item))
    assert torch.allclose(blend(network, item_item, 0.5)[0], torch.zeros(3))  # opposite orders


def _genre_data(n_users: int = 40) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Four genres of 10 items; each user watches 10 items of two genres (a fixed pair per
    user), so an item's neighbours are its genre's items, which the text also says."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(n_users):
        genres = (user % 4, (user // 4) % 4)
        for step in range(10):
            rows.append((user, 10 * genres[step % 2] + int(rng.integers(10)), 100 * step + user))
    frame = pd.DataFrame(rows, columns=["user_idx", "item_idx", "timestamp"])
    frame = frame.drop_duplicates(["user_idx", "item_idx"]).reset_index(drop=True)
    frame["user_id"] = "u" + frame["user_idx"].astype(str)
    frame["item_id"] = "i" + frame["item_idx"].astype(str)
    item_text = np.zeros((40, 8), dtype=np.float32)
    item_text[np.arange(40), np.arange(40) // 10] = 1.0
    item_text += rng.normal(0, 0.05, item_text.shape).astype(np.float32)
    return frame, item_text, np.zeros((n_users, 8), dtype=np.float32)


def _configs(enabled: bool = True) -> tuple[ModelConfig, TrainingConfig]:
    model = ModelConfig(
        architecture="shared_bottom",
        embedding_dim=8,
        hidden_dims=(16,),
        tower_dims=(4,),
        dropout=0.0,
        history_length=0,
        tasks={"watch": TaskConfig(kind="ranking")},
        item_item=ItemItemConfig(enabled=enabled, l2=(1.0, 10.0), text_weight=(0.0, 3.0)),
    )
    training = TrainingConfig(
        epochs=2, batch_size=64, learning_rate=0.01, patience=2, seed=0, refit_from="scratch"
    )
    return model, training


def _inputs(frame: pd.DataFrame, item_text: np.ndarray, user_text: np.ndarray) -> ModelInputs:
    user_ids = pd.Series([f"u{u}" for u in range(len(user_text))])
    return ModelInputs(item_text, user_text, user_ids, pd.Series([f"i{i}" for i in range(40)]))


def test_the_fit_chooses_the_component_on_valid_and_the_network_scores_with_it(
    tmp_path,  # noqa: ANN001
) -> None:
    frame, item_text, user_text = _genre_data()
    order = frame.sort_values("timestamp")
    valid = order.groupby("user_idx").tail(2)
    train = frame.drop(valid.index)
    model_config, training = _configs()
    inputs = _inputs(frame, item_text, user_text)
    trained, _ = fit_recommender(train, valid, inputs, model_config, training)
    # Two epochs leave the network weak and the genres are plain co-occurrence: valid wants
    # the item-item side.
    choice = trained.spec.item_item
    assert choice is not None and choice.weight > 0 and choice.l2 in (1.0, 10.0)
    # Fitted on train alone: no valid interaction is in what scores valid (nor test).
    refitted = fit_item_item(train, inputs, choice, trained)
    assert torch.equal(trained.state_dict["item_item"], refitted)
    model = trained.build()
    users = torch.arange(len(user_text))
    network = model.catalogue_scorer(item_item=False)(users)
    known = known_matrix(model.history_indptr, model.history_items, users, 40)
    expected = blend(network, known @ model.item_item, choice.weight)
    assert torch.allclose(model.score_items(users), expected, atol=1e-5)
    # The weights travel with the model.
    save_trained_model(trained, tmp_path / "model")
    loaded = load_trained_model(tmp_path / "model")
    assert loaded.spec.item_item == choice
    assert torch.allclose(loaded.build().score_items(users), expected, atol=1e-5)
    # Disabled: no component, the network's own scores.
    plain, _ = fit_recommender(train, valid, inputs, _configs(enabled=False)[0], training)
    assert plain.spec.item_item is None and "item_item" not in plain.state_dict


def test_a_refit_reuses_the_choice_on_its_own_interactions() -> None:
    frame, item_text, user_text = _genre_data()
    model_config, training = _configs()
    choice = ItemItemChoice(
        l2=10.0, text_weight=3.0, text_power=4, weight=0.4, network_weight=2.0, network_power=2
    )
    inputs = _inputs(frame, item_text, user_text)
    refit, _ = refit_recommender(frame, inputs, model_config, training, 1, choice)
    assert refit.spec.item_item == choice
    # The network kernel is the refit network's own item vectors'.
    vectors = refit.build().ranking_item_vectors()
    expected = item_item_weights(
        frame["user_idx"].to_numpy(),
        frame["item_idx"].to_numpy(),
        40,
        40,
        10.0,
        torch.from_numpy(item_text),
        3.0,
        4,
        vectors,
        2.0,
        2,
    )
    assert torch.equal(refit.state_dict["item_item"], expected)
    assert torch.equal(expected, fit_item_item(frame, inputs, choice, refit))
    users, items = frame["user_idx"].to_numpy(), frame["item_idx"].to_numpy()
    without = item_item_weights(users, items, 40, 40, 10.0, torch.from_numpy(item_text), 3.0, 4)
    assert not torch.allclose(expected, without)


def test_served_lists_follow_new_interactions_through_the_component() -> None:
    frame, item_text, user_text = _genre_data()
    model_config, training = _configs()
    choice = ItemItemChoice(l2=10.0, text_weight=3.0, text_power=4, weight=1.0)
    trained, _ = refit_recommender(
        frame, _inputs(frame, item_text, user_text), model_config, training, 1, choice
    )
    history = frame[["user_id", "item_id", "timestamp"]]
    # User 0 watches genre 0 alone (user % 4 and (user // 4) % 4 are both 0); then six items
    # of genre 3 arrive, with no retraining.
    before = recommend(trained, history, 10, ["u0"])
    late = pd.DataFrame(
        [("u0", f"i{30 + i}", 10_000 + i) for i in range(6)],
        columns=["user_id", "item_id", "timestamp"],
    )
    after = recommend(trained, pd.concat([history, late], ignore_index=True), 10, ["u0"])
    genre = lambda lists: (lists["item_id"].str[1:].astype(int) // 10 == 3).mean()  # noqa: E731
    assert genre(after) >= genre(before) + 0.3, (genre(before), genre(after))


def test_the_config_refuses_odd_powers_and_empty_grids() -> None:
    with pytest.raises(ValueError, match="even"):
        ItemItemConfig(text_power=3)
    with pytest.raises(ValueError, match="l2"):
        ItemItemConfig(l2=())
    with pytest.raises(ValueError, match="weight"):
        ItemItemConfig(weight=(0.5, 1.5))
