"""Mini-batch training of a multi-task recommender with weighted task losses.

Per epoch, every training interaction is a positive for ``watch`` and is paired with
``negatives_per_positive`` sampled items the user has not interacted with in training. ``like``
(rating at or above a threshold) and ``rating`` (squared error) are learned on the positives
only. Loss = sum over tasks of ``weight_t * loss_t``. Early stopping keeps the epoch with the
best validation NDCG@10 from a full ranking over the catalogue.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.nn import functional as F

from mtrec.config import TrainingConfig
from mtrec.data.negatives import sample_negatives
from mtrec.models.base import MultiTaskRecommender
from mtrec.training.weighting import GradNorm, TaskWeighting, make_weighting

EARLY_STOPPING_METRIC = "ndcg@10"


@dataclass(frozen=True)
class EpochLog:
    epoch: int
    losses: dict[str, float]
    """Mean per-task losses and ``total``, the weighted sum."""
    valid: dict[str, float]
    seconds: float
    weights: dict[str, float]
    """Effective task weights at the end of the epoch."""


@dataclass(frozen=True)
class TrainingResult:
    state_dict: dict[str, Tensor]
    history: tuple[EpochLog, ...]
    best_epoch: int
    best_valid: dict[str, float]
    seconds: float


def task_losses(
    outputs: dict[str, Tensor], labels: dict[str, Tensor], masks: dict[str, Tensor],
    tasks: Iterable[str],
) -> dict[str, Tensor]:  # fmt: skip
    """Per-task losses on the masked rows: MSE for ``rating``, BCE on logits otherwise."""
    per_task: dict[str, Tensor] = {}
    for task in tasks:
        mask = masks[task]
        if not bool(mask.any()):
            per_task[task] = torch.zeros((), dtype=torch.float32)
            continue
        prediction, target = outputs[task][mask], labels[task][mask]
        if task == "rating":
            per_task[task] = F.mse_loss(prediction, target)
        else:
            per_task[task] = F.binary_cross_entropy_with_logits(prediction, target)
    return per_task


def multitask_loss(
    outputs: dict[str, Tensor], labels: dict[str, Tensor], masks: dict[str, Tensor],
    weights: dict[str, float],
) -> tuple[Tensor, dict[str, Tensor]]:  # fmt: skip
    """Static weighting of the task losses: returns (sum_t w_t * L_t, per task)."""
    per_task = task_losses(outputs, labels, masks, weights)
    return TaskWeighting(weights).combine(per_task), per_task


def train_multitask(
    model: MultiTaskRecommender,
    train: pd.DataFrame,
    task_weights: dict[str, float],
    config: TrainingConfig,
    like_threshold: float,
    validate: Callable[[MultiTaskRecommender], dict[str, float]],
) -> TrainingResult:
    """Train ``model`` in place and return the best epoch's weights and the history.

    ``validate`` returns validation metrics for the model in its current state, including
    ``ndcg@10``, which early stopping maximises.
    """
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    n_items = model.spec.n_items
    users = train["user_idx"].to_numpy(np.int64)
    items = train["item_idx"].to_numpy(np.int64)
    ratings = train["rating"].to_numpy(np.float32)
    seen_keys = np.unique(users * n_items + items)
    # The input layers feed every task in every architecture: GradNorm balances there.
    shared = [*model.user_inputs.parameters(), *model.item_inputs.parameters()]
    weighting = make_weighting(
        config.task_weighting, task_weights, shared, config.dwa_temperature, config.gradnorm_alpha
    )
    learned = [p for name, p in weighting.named_parameters() if not name.startswith("gn_")]
    optimizer = torch.optim.Adam(
        [*model.parameters(), *learned], lr=config.learning_rate, weight_decay=config.weight_decay
    )
    started = time.perf_counter()
    history: list[EpochLog] = []
    best_state = copy.deepcopy(model.state_dict())
    best_epoch, best_valid, best_value, stale = 0, {}, -np.inf, 0
    k = config.negatives_per_positive
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        neg_users, neg_items = sample_negatives(users, n_items, seen_keys, k, rng)
        n_pos = len(users)
        batch_users = torch.from_numpy(np.concatenate([users, neg_users]))
        batch_items = torch.from_numpy(np.concatenate([items, neg_items]))
        is_pos = torch.zeros(len(batch_users), dtype=torch.bool)
        is_pos[:n_pos] = True
        rating = torch.zeros(len(batch_users))
        rating[:n_pos] = torch.from_numpy(ratings)
        labels = {
            "watch": is_pos.float(),
            "like": (rating >= like_threshold).float(),
            "rating": rating,
        }
        masks = {"watch": torch.ones_like(is_pos), "like": is_pos, "rating": is_pos}
        order = torch.from_numpy(rng.permutation(len(batch_users)))
        model.train()
        sums = dict.fromkeys([*task_weights, "total"], 0.0)
        n_batches = 0
        for start in range(0, len(order), config.batch_size):
            rows = order[start : start + config.batch_size]
            outputs = model({"user": batch_users[rows], "item": batch_items[rows]})
            per_task = task_losses(
                outputs,
                {t: y[rows] for t, y in labels.items()},
                {t: m[rows] for t, m in masks.items()},
                task_weights,
            )
            if isinstance(weighting, GradNorm):
                weighting.gradnorm_step(per_task)
            total = weighting.combine(per_task)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            sums["total"] += float(total.detach())
            for task, loss in per_task.items():
                sums[task] += float(loss.detach())
            n_batches += 1
        mean_losses = {name: value / n_batches for name, value in sums.items()}
        weighting.end_epoch(mean_losses)
        model.eval()
        valid_metrics = validate(model)
        history.append(
            EpochLog(
                epoch=epoch,
                losses=mean_losses,
                valid=valid_metrics,
                seconds=time.perf_counter() - epoch_start,
                weights=weighting.current(),
            )
        )
        value = valid_metrics[EARLY_STOPPING_METRIC]
        if value > best_value:
            best_value, best_epoch, best_valid, stale = value, epoch, valid_metrics, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= config.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    return TrainingResult(
        state_dict=best_state,
        history=tuple(history),
        best_epoch=best_epoch,
        best_valid=best_valid,
        seconds=time.perf_counter() - started,
    )
