"""Refits: continuing the evaluated model's weights on more data, or a fresh network."""

import pandas as pd
import pytest
import torch
from test_trainer import MODEL, TRAINING, _planted

from mtrec.workflows.fit import (
    build_model,
    fit_recommender,
    load_parameters,
    refit_recommender,
    refit_recommenders,
)
from mtrec.workflows.inputs import ModelInputs


@pytest.fixture(scope="module")
def evaluated():
    split, item_emb, user_emb, user_ids, item_ids = _planted(n_users=24, n_items=40, per_user=10)
    inputs = ModelInputs(item_emb, user_emb, user_ids, item_ids)
    trained, result = fit_recommender(split.train, split.valid, inputs, MODEL, TRAINING)
    known = pd.concat([split.train, split.valid], ignore_index=True)
    return split, inputs, trained, result, known


def _parameters(trained) -> dict[str, torch.Tensor]:
    names = dict(trained.build().named_parameters())
    return {name: trained.state_dict[name] for name in names}


def test_a_refit_from_the_trained_model_continues_its_weights_on_the_new_data(evaluated) -> None:
    split, inputs, trained, result, known = evaluated
    # A vanishing rate: the refit's weights are the evaluated model's, after its epochs.
    still = TRAINING.model_copy(update={"refit_epochs": 2, "refit_learning_rate": 1e-9})
    refit, refit_result = refit_recommender(known, inputs, MODEL, still, 5, start=trained)
    assert len(refit_result.history) == 2  # refit_epochs, not the 5 early stopping chose
    start, after = _parameters(trained), _parameters(refit)
    assert start.keys() == after.keys()
    for name, value in start.items():
        assert torch.allclose(after[name], value, atol=1e-6), name
    # What it knows is the refit's data: every train and valid interaction.
    assert len(refit.build().history_items) == len(known)
    assert len(trained.build().history_items) == len(split.train)
    # At the configured rate it moves away from the start and still separates the halves.
    moved, _ = refit_recommender(known, inputs, MODEL, TRAINING, 5, start=trained)
    assert any(
        not torch.allclose(_parameters(moved)[name], value, atol=1e-4)
        for name, value in start.items()
    )
    with torch.no_grad():
        scores = moved.build().score_items(torch.tensor([0, 1]))
    assert scores[0, :20].mean() > scores[0, 20:].mean()  # even users: the first half
    assert scores[1, 20:].mean() > scores[1, :20].mean()  # odd users: the second half


def test_a_refit_from_scratch_ignores_the_start_and_trains_the_chosen_epochs(evaluated) -> None:
    _, inputs, trained, _, known = evaluated
    scratch = TRAINING.model_copy(update={"refit_from": "scratch", "refit_epochs": 1})
    with_start, result = refit_recommender(known, inputs, MODEL, scratch, 3, start=trained)
    without, _ = refit_recommender(known, inputs, MODEL, scratch, 3)
    assert len(result.history) == 3
    for name, value in _parameters(without).items():
        assert torch.equal(_parameters(with_start)[name], value), name


def test_a_trained_refit_needs_its_start_and_a_start_that_fits(evaluated) -> None:
    split, inputs, trained, _, known = evaluated
    with pytest.raises(ValueError, match="pass start"):
        refit_recommender(known, inputs, MODEL, TRAINING, 3)
    wider = MODEL.model_copy(update={"embedding_dim": 16})
    model = build_model(wider, known, inputs.item_embeddings, inputs.user_embeddings)
    with pytest.raises(ValueError, match="does not fit"):
        load_parameters(model, trained)
    other = MODEL.model_copy(update={"architecture": "shared_bottom"})
    model = build_model(other, known, inputs.item_embeddings, inputs.user_embeddings)
    with pytest.raises(ValueError, match="does not fit .*: it lacks"):
        load_parameters(model, trained)


def test_side_by_side_refits_match_refits_in_turn(evaluated) -> None:
    split, inputs, trained, _, known = evaluated
    everything = pd.concat([known, split.test], ignore_index=True)
    together = refit_recommenders([known, everything], inputs, MODEL, TRAINING, 3, start=trained)
    for data, (refit, _) in zip([known, everything], together, strict=True):
        alone, _ = refit_recommender(data, inputs, MODEL, TRAINING, 3, start=trained)
        assert len(refit.build().history_items) == len(data)
        for name, value in _parameters(alone).items():
            assert torch.allclose(_parameters(refit)[name], value, atol=1e-5), name
