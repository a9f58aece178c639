"""Task weighting, in one place: how per-task losses become the loss that is optimised.

- ``static``: fixed weights from the config, ``sum_t w_t * L_t``.
- ``uncertainty``: Kendall, Gal and Cipolla, "Multi-Task Learning Using Uncertainty to Weigh
  Losses", CVPR 2018: learned log-variances ``s_t``, ``sum_t w_t * (exp(-s_t) * L_t + s_t)``.
- ``dwa``: Liu, Johns and Davison, "End-to-End Multi-Task Learning with Attention" (Dynamic
  Weight Average), CVPR 2019: ``lambda_t = T * softmax(r_t / temperature)`` where
  ``r_t = L_t(e-1) / L_t(e-2)``; a task whose loss falls slowly gets more weight.
- ``gradnorm``: Chen et al., "GradNorm", ICML 2018: learned weights whose gradient norms on the
  last shared layer are pulled towards the mean norm scaled by each task's relative inverse
  training rate to the power ``alpha``; weights are renormalised to sum to the task count.

In every scheme the configured static weights stay as multipliers, so a task with weight 0 is
off whatever the scheme. ``current()`` gives the effective per-task weights, logged per epoch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn

SCHEMES = ("static", "uncertainty", "dwa", "gradnorm")


class TaskWeighting(nn.Module):
    """Combines per-task losses; subclasses adapt the weights during training."""

    def __init__(self, weights: dict[str, float]):
        super().__init__()
        self.tasks = tuple(weights)
        self.base = dict(weights)

    def combine(self, losses: dict[str, Tensor]) -> Tensor:
        total = sum(self.base[t] * losses[t] for t in self.tasks)
        assert isinstance(total, Tensor)
        return total

    def end_epoch(self, mean_losses: dict[str, float]) -> None:
        """Hook after each epoch with the epoch's mean per-task losses (DWA)."""

    def current(self) -> dict[str, float]:
        return dict(self.base)


class UncertaintyWeighting(TaskWeighting):
    def __init__(self, weights: dict[str, float]):
        super().__init__(weights)
        self.log_vars = nn.ParameterDict({t: nn.Parameter(torch.zeros(())) for t in self.tasks})

    def combine(self, losses: dict[str, Tensor]) -> Tensor:
        terms = [
            self.base[t] * (torch.exp(-self.log_vars[t]) * losses[t] + self.log_vars[t])
            for t in self.tasks
        ]
        return torch.stack(terms).sum()

    def current(self) -> dict[str, float]:
        return {t: self.base[t] * math.exp(-float(self.log_vars[t].detach())) for t in self.tasks}


class DynamicWeightAverage(TaskWeighting):
    def __init__(self, weights: dict[str, float], temperature: float = 2.0):
        super().__init__(weights)
        self.temperature = temperature
        self.history: list[dict[str, float]] = []
        self.lambdas = dict.fromkeys(self.tasks, 1.0)

    def combine(self, losses: dict[str, Tensor]) -> Tensor:
        total = sum(self.base[t] * self.lambdas[t] * losses[t] for t in self.tasks)
        assert isinstance(total, Tensor)
        return total

    def end_epoch(self, mean_losses: dict[str, float]) -> None:
        self.history.append({t: mean_losses[t] for t in self.tasks})
        if len(self.history) < 2:
            return
        before, last = self.history[-2], self.history[-1]
        rates = torch.tensor([last[t] / max(before[t], 1e-12) for t in self.tasks])
        lambdas = len(self.tasks) * torch.softmax(rates / self.temperature, dim=0)
        self.lambdas = {t: float(w) for t, w in zip(self.tasks, lambdas, strict=True)}

    def current(self) -> dict[str, float]:
        return {t: self.base[t] * self.lambdas[t] for t in self.tasks}


class GradNorm(TaskWeighting):
    def __init__(
        self,
        weights: dict[str, float],
        shared: Iterable[nn.Parameter],
        alpha: float = 1.5,
        learning_rate: float = 0.025,
    ):
        super().__init__(weights)
        self.shared = [p for p in shared if p.requires_grad]
        self.alpha = alpha
        self.gn_weights = nn.Parameter(torch.ones(len(self.tasks)))
        self.optimizer = torch.optim.Adam([self.gn_weights], lr=learning_rate)
        self.initial: Tensor | None = None

    def combine(self, losses: dict[str, Tensor]) -> Tensor:
        weights = self.gn_weights.detach()
        terms = [self.base[t] * weights[i] * losses[t] for i, t in enumerate(self.tasks)]
        return torch.stack(terms).sum()

    def gradnorm_step(self, losses: dict[str, Tensor]) -> None:
        """One update of the task weights; call before the main backward (needs the graph)."""
        active = [
            i for i, t in enumerate(self.tasks) if self.base[t] > 0 and losses[t].requires_grad
        ]
        if len(active) < 2 or not self.shared:
            return
        norms = []
        for i in active:
            task = self.tasks[i]
            grads = torch.autograd.grad(
                self.base[task] * losses[task], self.shared, retain_graph=True, allow_unused=True
            )
            flat = torch.cat([g.reshape(-1) for g in grads if g is not None])
            norms.append(self.gn_weights[i] * flat.norm())  # (,)
        norms_t = torch.stack(norms)  # (A,)
        current = torch.stack([losses[self.tasks[i]].detach() for i in active])
        if self.initial is None:
            self.initial = current.clamp(min=1e-12)
        ratios = current / self.initial
        inverse_rate = ratios / ratios.mean()
        target = (norms_t.mean() * inverse_rate**self.alpha).detach()
        self.optimizer.zero_grad(set_to_none=True)
        (norms_t - target).abs().sum().backward()
        self.optimizer.step()
        with torch.no_grad():  # renormalise: weights sum to the number of tasks
            self.gn_weights.clamp_(min=1e-3)
            self.gn_weights.mul_(len(self.tasks) / self.gn_weights.sum())

    def current(self) -> dict[str, float]:
        return {
            t: self.base[t] * float(self.gn_weights[i].detach()) for i, t in enumerate(self.tasks)
        }


def make_weighting(
    scheme: str,
    weights: dict[str, float],
    shared: Iterable[nn.Parameter] = (),
    dwa_temperature: float = 2.0,
    gradnorm_alpha: float = 1.5,
) -> TaskWeighting:
    if scheme == "static":
        return TaskWeighting(weights)
    if scheme == "uncertainty":
        return UncertaintyWeighting(weights)
    if scheme == "dwa":
        return DynamicWeightAverage(weights, dwa_temperature)
    if scheme == "gradnorm":
        return GradNorm(weights, shared, gradnorm_alpha)
    raise ValueError(f"unknown task weighting {scheme!r}; choose one of {SCHEMES}")
