"""Shared-bottom model: output shapes, pair path equals grid path, unseen ids use text only."""

import pytest
import torch
from conftest import bare_spec

from mtrec.models.shared_bottom import SharedBottomRecommender

N_USERS, N_ITEMS, DU, DI = 5, 7, 6, 8


def _model(use_text: bool = True, item_seen: torch.Tensor | None = None, **spec_kwargs):
    torch.manual_seed(0)
    spec = bare_spec(
        n_users=N_USERS,
        n_items=N_ITEMS,
        user_text_dim=DU,
        item_text_dim=DI,
        embedding_dim=8,
        hidden_dims=(16, 12),
        tower_dims=(10, 6),
        dropout=0.3,
        use_text=use_text,
        **({"offsets": {"rating": 3.25}} | spec_kwargs),
    )
    model = SharedBottomRecommender(
        spec,
        user_text=torch.randn(N_USERS, DU),
        item_text=torch.randn(N_ITEMS, DI),
        item_seen=item_seen,
    )
    return model.eval()


def _all_pairs() -> dict[str, torch.Tensor]:
    users = torch.arange(N_USERS).repeat_interleave(N_ITEMS)
    items = torch.arange(N_ITEMS).repeat(N_USERS)
    return {"user": users, "item": items}


def test_forward_shapes_and_rating_offset() -> None:
    model = _model()
    batch = {"user": torch.tensor([0, 4, 2]), "item": torch.tensor([6, 0, 3])}
    out = model(batch)
    assert set(out) == {"watch", "like", "rating"}
    for value in out.values():
        assert value.shape == (3,)
        assert value.dtype == torch.float32
    # The rating head is centred on the training mean: its tower logit plus its offset.
    u, v = model.task_users(batch["user"])["rating"], model.task_items(batch["item"])["rating"]
    torch.testing.assert_close(out["rating"], model.towers["rating"].pair(u, v) + 3.25)
    torch.testing.assert_close(out["watch"], model.towers["watch"].pair(u, v))


def test_only_configured_tasks_are_built() -> None:
    model = _model(tasks=("watch",), offsets={})
    out = model({"user": torch.tensor([1]), "item": torch.tensor([2])})
    assert set(out) == {"watch"}
    assert set(model.towers) == {"watch"}


@pytest.mark.parametrize("task", ["watch", "like", "rating"])
def test_score_items_equals_forward_on_every_pair(task: str) -> None:
    model = _model()
    with torch.no_grad():
        grid = model.score_items(torch.arange(N_USERS), task=task)  # (U, I)
        pairs = model(_all_pairs())[task].reshape(N_USERS, N_ITEMS)
    if task == "rating":
        pairs = pairs - model.spec.offsets["rating"]  # score_items returns the raw tower logit
    assert grid.shape == (N_USERS, N_ITEMS)
    torch.testing.assert_close(grid, pairs, atol=1e-5, rtol=0)


def test_score_items_for_a_subset_of_users() -> None:
    model = _model()
    with torch.no_grad():
        full = model.score_items(torch.arange(N_USERS))
        some = model.score_items(torch.tensor([3, 1]))
    torch.testing.assert_close(some, full[[3, 1]], atol=1e-6, rtol=0)


def test_unseen_item_ignores_its_id_embedding() -> None:
    seen = torch.ones(N_ITEMS)
    seen[4] = 0.0
    model = _model(item_seen=seen)
    with torch.no_grad():
        before = model.score_items(torch.arange(N_USERS)).clone()
        model.item_inputs.ids.weight[4] = torch.randn(8) * 10
        model.item_inputs.ids.weight[2] = torch.randn(8) * 10  # a seen item, for contrast
        after = model.score_items(torch.arange(N_USERS))
    torch.testing.assert_close(after[:, 4], before[:, 4], atol=0, rtol=0)
    assert (after[:, 2] - before[:, 2]).abs().max() > 1e-3
    untouched = [0, 1, 3, 5, 6]
    torch.testing.assert_close(after[:, untouched], before[:, untouched], atol=0, rtol=0)


def test_unseen_item_is_scored_from_its_text() -> None:
    seen = torch.ones(N_ITEMS)
    seen[4] = 0.0
    model = _model(item_seen=seen)
    with torch.no_grad():
        before = model.score_items(torch.arange(N_USERS)).clone()
        model.item_text[4] = torch.randn(DI) * 3
        after = model.score_items(torch.arange(N_USERS))
    assert (after[:, 4] - before[:, 4]).abs().max() > 1e-3
    others = [0, 1, 2, 3, 5, 6]
    torch.testing.assert_close(after[:, others], before[:, others], atol=0, rtol=0)


def test_use_text_false_ignores_text() -> None:
    model = _model(use_text=False)
    with torch.no_grad():
        before = model.score_items(torch.arange(N_USERS)).clone()
        pair_before = model(_all_pairs())["like"].clone()
        model.item_text.copy_(torch.randn(N_ITEMS, DI))
        model.user_text.copy_(torch.randn(N_USERS, DU))
        after = model.score_items(torch.arange(N_USERS))
        pair_after = model(_all_pairs())["like"]
    torch.testing.assert_close(after, before, atol=0, rtol=0)
    torch.testing.assert_close(pair_after, pair_before, atol=0, rtol=0)


def test_eval_mode_is_deterministic_and_train_mode_uses_dropout() -> None:
    model = _model()
    batch = _all_pairs()
    with torch.no_grad():
        a, b = model(batch)["watch"], model(batch)["watch"]
        torch.testing.assert_close(a, b, atol=0, rtol=0)
        model.train()
        torch.manual_seed(1)
        c = model(batch)["watch"]
    assert (a - c).abs().max() > 1e-4
