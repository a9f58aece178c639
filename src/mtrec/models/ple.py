"""Progressive Layered Extraction (PLE).

Tang et al., "Progressive Layered Extraction (PLE): A Novel Multi-Task Learning (MTL) Model for
Personalized Recommendations", RecSys 2020. Each level has experts shared by all tasks and
experts owned by each task; a task's gate mixes its own and the shared experts, and (below the
top level) a shared gate mixes all of them to feed the next level's shared experts. One level is
the Customized Gate Control (CGC) model. As in :mod:`mtrec.models.mmoe`, the extraction runs on
the user and the item side separately; towers and the interface are in :mod:`mtrec.models.base`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mtrec.models.base import ModelSpec, MultiTaskRecommender, mlp


class _Level(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, spec: ModelSpec, top: bool):
        super().__init__()
        self.tasks = spec.tasks
        n_shared, n_own = spec.n_experts, spec.n_task_experts

        def experts(n: int) -> nn.ModuleList:
            return nn.ModuleList([mlp([in_dim, out_dim], spec.dropout) for _ in range(n)])

        self.shared = experts(n_shared)
        self.own = nn.ModuleDict({t: experts(n_own) for t in spec.tasks})
        self.gates = nn.ModuleDict({t: nn.Linear(in_dim, n_shared + n_own) for t in spec.tasks})
        n_all = n_shared + n_own * len(spec.tasks)
        self.shared_gate = None if top else nn.Linear(in_dim, n_all)

    def forward(
        self, task_x: dict[str, Tensor], shared_x: Tensor
    ) -> tuple[dict[str, Tensor], Tensor]:
        shared = [expert(shared_x) for expert in self.shared]  # X_s of (B, H)
        own = {t: [expert(task_x[t]) for expert in self.own[t]] for t in self.tasks}
        mixed = {}
        for task in self.tasks:
            pool = torch.stack(own[task] + shared, dim=1)  # (B, X_t + X_s, H)
            weights = torch.softmax(self.gates[task](task_x[task]), dim=-1).unsqueeze(-1)
            mixed[task] = (weights * pool).sum(dim=1)  # (B, H)
        if self.shared_gate is None:
            return mixed, shared_x
        everything = torch.stack(shared + [e for t in self.tasks for e in own[t]], dim=1)
        weights = torch.softmax(self.shared_gate(shared_x), dim=-1).unsqueeze(-1)
        return mixed, (weights * everything).sum(dim=1)  # (B, H)


class _PLE(nn.Module):
    def __init__(self, in_dim: int, spec: ModelSpec):
        super().__init__()
        widths = list(spec.hidden_dims) or [in_dim]
        dims = [in_dim] + [widths[min(i, len(widths) - 1)] for i in range(spec.levels)]
        self.levels = nn.ModuleList(
            [_Level(dims[i], dims[i + 1], spec, top=i == spec.levels - 1)
             for i in range(spec.levels)]
        )  # fmt: skip
        self.tasks = spec.tasks
        self.out_dim = dims[-1]

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        task_x, shared_x = dict.fromkeys(self.tasks, x), x
        for level in self.levels:
            task_x, shared_x = level(task_x, shared_x)
        return task_x


class PLERecommender(MultiTaskRecommender):
    side = _PLE
