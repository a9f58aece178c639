"""save_trained_model / load_trained_model: a lossless round trip without pickle."""

import json
from pathlib import Path

import pytest
import torch
from conftest import bare_spec

from mtrec.models.serialization import (
    SPEC_FILE,
    WEIGHTS_FILE,
    TrainedModel,
    load_trained_model,
    save_trained_model,
)
from mtrec.models.shared_bottom import SharedBottomRecommender


def _trained(tasks: tuple[str, ...] = ("watch", "like", "rating")) -> TrainedModel:
    torch.manual_seed(0)
    spec = bare_spec(
        n_users=4,
        n_items=6,
        user_text_dim=5,
        item_text_dim=3,
        embedding_dim=4,
        hidden_dims=(8,),
        tower_dims=(6, 3),
        tasks=tasks,
        offsets={"rating": 3.7} if "rating" in tasks else {},
    )
    model = SharedBottomRecommender(
        spec,
        user_text=torch.randn(4, 5),
        item_text=torch.randn(6, 3),
        user_seen=torch.tensor([1.0, 1.0, 0.0, 1.0]),
        item_seen=torch.tensor([1.0] * 5 + [0.0]),
    )
    return TrainedModel(
        spec=spec,
        state_dict={k: v.clone() for k, v in model.state_dict().items()},
        user_ids=("u1", "u2", "u10", "007"),
        item_ids=("a", "b", "c", "d", "e", "f"),
    )


@pytest.mark.parametrize("tasks", [("watch", "like", "rating"), ("watch",)])
def test_round_trip(tmp_path: Path, tasks: tuple[str, ...]) -> None:
    original = _trained(tasks)
    folder = tmp_path / "model"
    save_trained_model(original, folder)
    loaded = load_trained_model(folder)

    assert loaded.spec == original.spec
    assert isinstance(loaded.spec.hidden_dims, tuple) and isinstance(loaded.spec.tasks, tuple)
    assert loaded.user_ids == original.user_ids
    assert loaded.item_ids == original.item_ids
    assert set(loaded.state_dict) == set(original.state_dict)
    for name, tensor in original.state_dict.items():
        assert loaded.state_dict[name].dtype == tensor.dtype, name
        torch.testing.assert_close(loaded.state_dict[name], tensor, atol=0, rtol=0)

    users = torch.arange(4)
    with torch.no_grad():
        expected = original.build().score_items(users)
        got = loaded.build().score_items(users)
        batch = {"user": torch.tensor([0, 2, 3]), "item": torch.tensor([5, 1, 0])}
        pair_expected, pair_got = original.build()(batch), loaded.build()(batch)
    torch.testing.assert_close(got, expected, atol=0, rtol=0)
    assert set(pair_got) == set(tasks)
    for task in tasks:
        torch.testing.assert_close(pair_got[task], pair_expected[task], atol=0, rtol=0)


def test_build_restores_text_and_seen_buffers(tmp_path: Path) -> None:
    original = _trained()
    save_trained_model(original, tmp_path)
    model = load_trained_model(tmp_path).build()
    assert not model.training
    torch.testing.assert_close(model.item_text, original.state_dict["item_text"])
    assert model.item_seen.tolist() == [1.0] * 5 + [0.0]
    assert model.user_seen.tolist() == [1.0, 1.0, 0.0, 1.0]


def test_files_written_and_no_leftovers(tmp_path: Path) -> None:
    folder = tmp_path / "nested" / "model"
    save_trained_model(_trained(), folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted([WEIGHTS_FILE, SPEC_FILE])
    assert WEIGHTS_FILE == "weights.safetensors" and SPEC_FILE == "model.json"
    meta = json.loads((folder / SPEC_FILE).read_text(encoding="utf-8"))
    assert meta["spec"]["n_items"] == 6
    assert meta["item_ids"] == ["a", "b", "c", "d", "e", "f"]

    save_trained_model(_trained(("watch",)), folder)  # overwrite in place
    assert sorted(p.name for p in folder.iterdir()) == sorted([WEIGHTS_FILE, SPEC_FILE])
    assert load_trained_model(folder).spec.tasks == ("watch",)


def test_weights_that_do_not_fit_the_spec_are_refused_by_name(tmp_path: Path) -> None:
    original = _trained()
    without_friends = {k: v for k, v in original.state_dict.items() if not k.startswith("friend_")}
    with pytest.raises(RuntimeError, match=r"missing \['friend_indices', 'friend_indptr'\]"):
        TrainedModel(original.spec, without_friends, original.user_ids, original.item_ids).build()
    extra = {**original.state_dict, "stray": torch.zeros(1)}
    with pytest.raises(RuntimeError, match=r"unexpected \['stray'\]"):
        TrainedModel(original.spec, extra, original.user_ids, original.item_ids).build()


def test_build_holds_the_buffers_and_copies_the_parameters() -> None:
    original = _trained()
    model = original.build()
    # The text tables are the state dict's own tensors, not copies ...
    assert model.user_text.data_ptr() == original.state_dict["user_text"].data_ptr()
    assert model.item_text.data_ptr() == original.state_dict["item_text"].data_ptr()
    # ... while the parameters are copies: training the network leaves the weights alone.
    before = original.state_dict["user_inputs.ids.weight"].clone()
    with torch.no_grad():
        model.user_inputs.ids.weight.add_(1.0)
    torch.testing.assert_close(original.state_dict["user_inputs.ids.weight"], before)
