"""Progressive Layered Extraction (PLE).

Tang et al., "Progressive Layered Extraction (PLE): A Novel Multi-Task Learning (MTL) Model for
Personalized Recommendations", RecSys 2020. Each level has experts shared by all tasks and
experts owned by each task; a task's gate mixes its own and the shared experts, and (below the
top level) a shared gate mixes all of them to feed the next level's shared experts. One level is
the Customized Gate Control (CGC) model. As in :mod:`mtrec.models.mmoe`, the extraction runs on
the user and the item side separately; towers are in :mod:`mtrec.models.layers`, the interface
in :mod:`mtrec.models.base`.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mtrec.models.base import MultiTaskRecommender
from mtrec.models.layers import Dropout, mlp
from mtrec.models.spec import ModelSpec


class _Level(nn.Module):
    """One extraction level. Its experts are one layer each (Linear, ReLU, Dropout) and keep
    their own parameters, but run as one wide matrix product per input with one dropout call,
    and the gates mix them with one batched product, a cheaper epoch than a loop over experts
    and tasks with the same values and gradients (tests/models/test_architectures.py)."""

    gate_columns: Tensor  # a buffer

    def __init__(self, in_dim: int, out_dim: int, spec: ModelSpec, top: bool):
        super().__init__()
        self.tasks = spec.tasks
        self.width = out_dim  # each expert's output
        n_shared, n_own = spec.n_experts, spec.n_task_experts

        def experts(n: int) -> nn.ModuleList:
            return nn.ModuleList([mlp([in_dim, out_dim], spec.dropout) for _ in range(n)])

        self.shared = experts(n_shared)
        self.own = nn.ModuleDict({t: experts(n_own) for t in spec.tasks})
        self.gates = nn.ModuleDict({t: nn.Linear(in_dim, n_shared + n_own) for t in spec.tasks})
        n_all = n_shared + n_own * len(spec.tasks)
        self.shared_gate = None if top else nn.Linear(in_dim, n_all)
        self.dropout = Dropout(spec.dropout)
        # The experts' outputs are stacked as: shared, then each task's own in task order (the
        # shared gate's order). A task gate's outputs are its own experts, then the shared ones:
        # their positions in that stack.
        columns = [
            [n_shared + i * n_own + j for j in range(n_own)] + list(range(n_shared))
            for i in range(len(spec.tasks))
        ]
        self.register_buffer("gate_columns", torch.tensor(columns), persistent=False)

    def forward(
        self, task_x: dict[str, Tensor], shared_x: Tensor
    ) -> tuple[dict[str, Tensor], Tensor]:
        one_input = all(task_x[t] is shared_x for t in self.tasks)  # the first level
        if one_input:
            every = [*self.shared, *(e for t in self.tasks for e in self._own(t))]
            hidden = _wide(every, shared_x)  # (B, X * H)
            gates = [self._gate(t) for t in self.tasks]
            logits = F.linear(
                shared_x, torch.cat([g.weight for g in gates]), torch.cat([g.bias for g in gates])
            )
        else:
            parts = [_wide(self.shared, shared_x)] + [
                _wide(self._own(t), task_x[t]) for t in self.tasks
            ]
            hidden = torch.cat(parts, dim=1)  # (B, X * H)
            logits = torch.cat([self.gates[t](task_x[t]) for t in self.tasks], dim=1)
        n = len(shared_x)
        everything = self.dropout(hidden).view(n, -1, self.width)  # (B, X, H)
        weights = torch.softmax(logits.view(n, len(self.tasks), -1), dim=-1)  # (B, T, X_t + X_s)
        columns = self.gate_columns.expand(n, -1, -1)
        mixing = weights.new_zeros(n, len(self.tasks), everything.shape[1]).scatter(
            2, columns, weights
        )
        mixed = torch.bmm(mixing, everything)  # (B, T, H)
        out = {task: mixed[:, i] for i, task in enumerate(self.tasks)}
        if self.shared_gate is None:
            return out, shared_x
        shared_weights = torch.softmax(self.shared_gate(shared_x), dim=-1).unsqueeze(1)  # (B, 1, X)
        return out, torch.bmm(shared_weights, everything).squeeze(1)  # (B, H)

    # Typed access: a ModuleDict holds plain Modules.
    def _own(self, task: str) -> nn.ModuleList:
        return cast(nn.ModuleList, self.own[task])

    def _gate(self, task: str) -> nn.Linear:
        return cast(nn.Linear, self.gates[task])


def _wide(experts: nn.ModuleList | list[nn.Module], x: Tensor) -> Tensor:
    """Single-layer experts on one input, before dropout: (B, D) -> (B, X * H)."""
    linears = [expert[0] for expert in experts]  # type: ignore[index]
    weight = torch.cat([linear.weight for linear in linears])  # (X * H, D)
    return torch.relu(F.linear(x, weight, torch.cat([linear.bias for linear in linears])))


class _PLE(nn.Module):
    def __init__(self, in_dim: int, spec: ModelSpec):
        super().__init__()
        widths = list(spec.hidden_dims) or [in_dim]
        dims = [in_dim] + [widths[min(i, len(widths) - 1)] for i in range(spec.levels)]
        self.levels = nn.ModuleList(
            [
                _Level(dims[i], dims[i + 1], spec, top=i == spec.levels - 1)
                for i in range(spec.levels)
            ]
        )
        self.tasks = spec.tasks
        self.out_dim = dims[-1]

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        task_x, shared_x = dict.fromkeys(self.tasks, x), x
        for level in self.levels:
            task_x, shared_x = level(task_x, shared_x)
        return task_x


class PLERecommender(MultiTaskRecommender):
    side = _PLE
