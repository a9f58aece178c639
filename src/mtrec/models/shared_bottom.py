"""Shared-bottom multi-task recommender.

Caruana, "Multitask Learning", Machine Learning 28 (1997): every task reads the same bottom
layers and keeps one tower of its own. Here the user and the item each get one shared bottom
MLP; inputs and towers are in :mod:`mtrec.models.layers`, the interface in
:mod:`mtrec.models.base`.
"""

from __future__ import annotations

from torch import Tensor, nn

from mtrec.models.base import MultiTaskRecommender
from mtrec.models.layers import mlp
from mtrec.models.spec import TASKS, ModelSpec

__all__ = ["TASKS", "ModelSpec", "SharedBottomRecommender"]


class _SharedBottom(nn.Module):
    def __init__(self, in_dim: int, spec: ModelSpec):
        super().__init__()
        self.tasks = spec.tasks
        self.mlp = mlp([in_dim, *spec.hidden_dims], spec.dropout)
        self.out_dim = ([in_dim, *spec.hidden_dims])[-1]

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        shared = self.mlp(x)  # (B, H)
        return dict.fromkeys(self.tasks, shared)


class SharedBottomRecommender(MultiTaskRecommender):
    side = _SharedBottom
