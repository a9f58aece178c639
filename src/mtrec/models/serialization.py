"""Saving and loading trained models without pickle: safetensors weights plus a JSON spec."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mtrec.files import atomic_path, write_atomic
from mtrec.models.spec import ModelSpec

if TYPE_CHECKING:
    from torch import Tensor

    from mtrec.models.base import MultiTaskRecommender
else:
    # torch is imported where weights are read or built, not to name their type: ZenML
    # validates a step's inputs with pydantic, which resolves this module's annotations, and
    # defining the pipeline (every cached run) would otherwise import torch.
    Tensor = object

WEIGHTS_FILE = "weights.safetensors"
SPEC_FILE = "model.json"


@dataclass(frozen=True)
class TrainedModel:
    """A trained network's spec and weights with the id maps that give indices meaning."""

    spec: ModelSpec
    state_dict: dict[str, Tensor]
    user_ids: tuple[str, ...]
    item_ids: tuple[str, ...]

    def build(self) -> MultiTaskRecommender:
        """The network in eval mode with these weights: its parameters are copies, its
        buffers (text tables, known history) these very tensors, which nothing trains."""
        import torch

        from mtrec.models.networks import build_network

        spec = self.spec
        model = build_network(
            spec,
            user_text=torch.zeros(spec.n_users, spec.user_text_dim),
            item_text=torch.zeros(spec.n_items, spec.item_text_dim),
        )
        if "history_items" in self.state_dict:  # the known history's length varies
            model.history_items = torch.empty_like(self.state_dict["history_items"])
        expected = model.state_dict().keys()
        missing = sorted(expected - self.state_dict.keys())
        unexpected = sorted(self.state_dict.keys() - expected)
        if missing or unexpected:
            raise RuntimeError(
                f"weights do not fit the spec: missing {missing}, unexpected {unexpected}"
            )
        buffers = {name for name, _ in model.named_buffers()}
        # Parameters are copied, so training the network leaves these weights as they are;
        # buffers (text tables, known history: most of the bytes) are never trained, and the
        # network holds these very tensors instead of copies.
        model.load_state_dict(
            {k: v for k, v in self.state_dict.items() if k not in buffers}, strict=False
        )
        model.load_state_dict(
            {k: v for k, v in self.state_dict.items() if k in buffers}, strict=False, assign=True
        )
        return model.eval()


def save_trained_model(model: TrainedModel, folder: Path) -> None:
    """Write each file under a temporary name, then rename, so readers never see half a file."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "spec": dataclasses.asdict(model.spec),
        "user_ids": list(model.user_ids),
        "item_ids": list(model.item_ids),
    }
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict.items()}
    with atomic_path(folder / WEIGHTS_FILE) as weights:
        save_file(tensors, str(weights))
    write_atomic(folder / SPEC_FILE, json.dumps(meta))


def load_trained_model(folder: Path) -> TrainedModel:
    from safetensors.torch import load_file

    meta = json.loads((folder / SPEC_FILE).read_text(encoding="utf-8"))
    raw_spec = meta["spec"]
    for key, value in raw_spec.items():
        if isinstance(value, list):  # JSON has no tuples
            raw_spec[key] = tuple(value)
    return TrainedModel(
        spec=ModelSpec(**raw_spec),
        state_dict=load_file(str(folder / WEIGHTS_FILE)),
        user_ids=tuple(meta["user_ids"]),
        item_ids=tuple(meta["item_ids"]),
    )
