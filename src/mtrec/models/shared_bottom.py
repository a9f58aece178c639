"""Shared-bottom multi-task recommender.

Caruana, "Multitask Learning", Machine Learning 28 (1997): every task reads the same bottom
layers and keeps one tower of its own. Here the user and the item each get one shared bottom
MLP; inputs, towers and the interface are in :mod:`mtrec.models.base`.
"""

from __future__ import annotations

from torch import Tensor, nn

from mtrec.models.base import TASKS, ModelSpec, MultiTaskRecommender, mlp

__all__ = ["TASKS", "ModelSpec", "SharedBottomRecommender"]


class _SharedBottom(nn.Module):
    def __init__(self, in_dim: int, spec: ModelSpec):
        super().__init__()
        self.tasks = spec.tasks
        self.mlp = mlp([in_dim, *spec.hidden_dims], spec.dropout)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        shared = self.mlp(x)  # (B, H)
        return dict.fromkeys(self.tasks, shared)


class SharedBottomRecommender(MultiTaskRecommender):
    def __init__(self, spec: ModelSpec, user_text: Tensor, item_text: Tensor,
                 user_seen: Tensor | None = None, item_seen: Tensor | None = None):  # fmt: skip
        super().__init__(spec, user_text, item_text, user_seen, item_seen)
        self.user_net = _SharedBottom(self.user_inputs.out_dim, spec)
        self.item_net = _SharedBottom(self.item_inputs.out_dim, spec)
        self.repr_dim = ([self.user_inputs.out_dim, *spec.hidden_dims])[-1]
        self._make_towers()
