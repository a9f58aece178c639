"""Multi-gate Mixture-of-Experts (MMoE).

Ma et al., "Modeling Task Relationships in Multi-task Learning with Multi-gate
Mixture-of-Experts", KDD 2018. All tasks share ``n_experts`` expert MLPs; each task mixes them
with its own softmax gate, so tasks that conflict can lean on different experts. Experts and
gates run on each side (user, item) separately, which keeps full-catalogue ranking a batched
matrix product; inputs and towers are in :mod:`mtrec.models.layers`, the interface in
:mod:`mtrec.models.base`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mtrec.models.base import MultiTaskRecommender
from mtrec.models.layers import mlp
from mtrec.models.spec import ModelSpec


class _MMoE(nn.Module):
    def __init__(self, in_dim: int, spec: ModelSpec):
        super().__init__()
        self.tasks = spec.tasks
        sizes = [in_dim, *spec.hidden_dims]
        self.experts = nn.ModuleList([mlp(sizes, spec.dropout) for _ in range(spec.n_experts)])
        self.gates = nn.ModuleDict({t: nn.Linear(in_dim, spec.n_experts) for t in spec.tasks})
        self.out_dim = sizes[-1]

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        experts = torch.stack([expert(x) for expert in self.experts], dim=1)  # (B, X, H)
        mixed = {}
        for task, gate in self.gates.items():
            weights = torch.softmax(gate(x), dim=-1).unsqueeze(-1)  # (B, X, 1)
            mixed[task] = (weights * experts).sum(dim=1)  # (B, H)
        return mixed


class MMoERecommender(MultiTaskRecommender):
    side = _MMoE
