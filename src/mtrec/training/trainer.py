"""Mini-batch training of a multi-task recommender with weighted task losses.

Tasks are declared (:class:`mtrec.config.TaskConfig`). Per epoch, every training interaction
is a positive of the ranking task (``watch``) and is paired with ``negatives_per_positive``
sampled items the user has not interacted with in training. Binary tasks (``like``: rating at
or above a threshold) and regression tasks (``rating``, ``influence``) are learned on the
positives only, with BCE and squared error. A ``funnel`` task (ESMM) learns its output,
p(after) * p(task | after), with BCE over every row of the task it follows: after the ranking
task, the positives *and* their sampled negatives (labelled 0), the entire space; after an
event task, the positives. Loss = sum over tasks of ``weight_t * loss_t``
(weights from :mod:`mtrec.training.weighting`). Early stopping keeps the epoch with the best
value of ``config.monitor`` in its direction (higher NDCG or AUC, lower RMSE).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch import distributed as dist
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel

from mtrec.config import TaskConfig, TrainingConfig, entire_space_tasks, metric_direction
from mtrec.data.labels import interaction_labels, next_topic_shares
from mtrec.data.negatives import sample_negatives
from mtrec.data.prepare import history_columns
from mtrec.models.base import MultiTaskRecommender
from mtrec.numerics import sparse_rows_pay
from mtrec.numerics import subnormals_flushed as _subnormals_flushed
from mtrec.training.history import EpochLog, TrainingHistory
from mtrec.training.weighting import GradNorm, make_weighting

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingResult:
    state_dict: dict[str, Tensor]
    history: tuple[EpochLog, ...]
    best_epoch: int
    best_valid: dict[str, float]
    seconds: float

    def record(self) -> TrainingHistory:
        return TrainingHistory(
            best_epoch=self.best_epoch,
            best_valid=self.best_valid,
            seconds=self.seconds,
            epochs=self.history,
        )


def task_losses(
    outputs: dict[str, Tensor],
    labels: dict[str, Tensor],
    masks: Mapping[str, Tensor],
    tasks: Mapping[str, object],
    regression: frozenset[str] = frozenset({"rating"}),
    distributions: frozenset[str] = frozenset(),
) -> dict[str, Tensor]:
    """Per-task losses on the masked rows (every row of a task without a mask): MSE for
    ``regression`` tasks, KL(label || softmax(output)) for ``distributions`` (an interest
    task's (R, T) logits against (R, T) target shares), BCE on logits otherwise; zero for a
    task with no rows."""
    per_task: dict[str, Tensor] = {}
    for task in tasks:
        prediction, target = outputs[task], labels[task]
        if task in masks:
            prediction, target = prediction[masks[task]], target[masks[task]]
        if len(prediction) == 0:
            per_task[task] = torch.zeros((), dtype=torch.float32, device=prediction.device)
            continue
        if task in regression:
            per_task[task] = F.mse_loss(prediction, target)
        elif task in distributions:
            log_q = F.log_softmax(prediction, dim=-1)
            per_task[task] = F.kl_div(log_q, target, reduction="batchmean")
        else:
            per_task[task] = F.binary_cross_entropy_with_logits(prediction, target)
    return per_task


def grouped_order(n_positives: int, per_positive: int, rng: np.random.Generator) -> np.ndarray:
    """A shuffled epoch order in which every positive is followed by its own negatives.

    Rows are the positives ``0 .. P - 1`` then their negatives, ``per_positive`` each in the
    order of :func:`mtrec.data.negatives.sample_negatives` (positive ``g``'s at ``P + g * k``
    onwards). Groups are shuffled, rows stay together: a batch then holds about
    ``batch / (1 + k)`` users instead of nearly one per row, and the user side network runs
    once per distinct user and step, which makes an epoch markedly cheaper at the same
    quality (docs/benchmarks.md#defaults-and-why)."""
    order = np.empty((n_positives, 1 + per_positive), dtype=np.int64)
    order[:, 0] = rng.permutation(n_positives)
    # Filled in place: no (P, k) temporaries beside the (P, 1 + k) result.
    order[:, 1:] = order[:, :1]
    order[:, 1:] *= per_positive
    order[:, 1:] += n_positives + np.arange(per_positive)
    return order.ravel()


def training_device(setting: str) -> torch.device:
    """``cpu``; ``cuda`` (under ``torchrun``, the local rank's GPU); ``auto``: cuda if any."""
    if setting == "auto":
        setting = "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RuntimeError(
            f"training.device is 'cuda' but torch {torch.__version__} sees no CUDA device; "
            "use 'cpu' or 'auto', or install a CUDA build of torch on a GPU machine"
        )
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))


def history_cursors(model: MultiTaskRecommender, train: pd.DataFrame) -> np.ndarray:
    """Make ``train`` the model's known history and return each row's own position in it
    (its cursor): the history the row's user side reads never holds the row itself, and only
    training interactions, never a valid or test one; with ``history_context: before`` only
    the user's interactions before the row (in time, ties in row order), with ``others`` the
    user's newest other ones (see ``MultiTaskRecommender.history_window``)."""
    order = model.set_history(*history_columns(train))
    cursors = np.empty(len(order), dtype=np.int64)
    cursors[order] = np.arange(len(order))  # row order[j] sits at j; its history ends there
    return cursors


@dataclass(frozen=True)
class TaskRoles:
    """How each declared task learns: on which rows, with which loss."""

    weights: dict[str, float]
    links: tuple[str, ...]
    """User-user link tasks: edges against sampled non-edges, beside the (user, item) rows."""
    regression: frozenset[str]
    distributions: frozenset[str]
    """Interest tasks: a topic distribution per row, learned with KL."""
    entire_space: tuple[str, ...]
    """Funnel tasks after the ranking task: every row, observed and sampled negatives."""
    positive_only: tuple[str, ...]
    """Binary and regression tasks: learned on the positives only; their heads run there."""

    @classmethod
    def of(cls, tasks: Mapping[str, TaskConfig]) -> TaskRoles:
        entire_space = entire_space_tasks(tasks)
        return cls(
            weights={name: task.weight for name, task in tasks.items()},
            links=tuple(name for name, task in tasks.items() if task.kind == "link"),
            regression=frozenset(n for n, task in tasks.items() if task.kind == "regression"),
            distributions=frozenset(n for n, task in tasks.items() if task.kind == "interest"),
            entire_space=entire_space,
            positive_only=tuple(
                name
                for name, task in tasks.items()
                if task.kind not in ("link", "ranking") and name not in entire_space
            ),
        )

    @property
    def pair_weights(self) -> dict[str, float]:
        """The weights of the tasks learned on (user, item) rows."""
        return {name: w for name, w in self.weights.items() if name not in self.links}


def weights_snapshot(model: nn.Module) -> dict[str, Tensor]:
    """The state dict with the parameters copied and the buffers shared: training writes only
    parameters, and the buffers (text tables, known history) are most of a large model's
    bytes (the 10M log's user texts alone are 300 MB), so each new best epoch no longer
    copies them."""
    parameters = {id(p) for p in model.parameters()}
    return {
        name: value.detach().clone() if id(value) in parameters else value
        for name, value in model.state_dict(keep_vars=True).items()
    }


class EarlyStopping:
    """Keeps the epoch with the best value of ``monitor`` in its direction, and says when
    ``patience`` epochs in a row did not improve on it by at least ``min_improvement`` of it
    (relative)."""

    def __init__(
        self,
        monitor: str,
        patience: int,
        model: MultiTaskRecommender,
        min_improvement: float,
    ):
        self.monitor, self.patience, self.min_improvement = monitor, patience, min_improvement
        self.sign = 1.0 if metric_direction(monitor) == "max" else -1.0
        self.best_epoch, self.stale = 0, 0
        self.best_valid: dict[str, float] = {}
        self.best_value = -np.inf
        self.best_state = weights_snapshot(model)

    def update(self, epoch: int, valid: dict[str, float], model: MultiTaskRecommender) -> bool:
        """Record an epoch's validation metrics; True when training should stop."""
        if self.monitor not in valid:
            raise KeyError(f"validation did not compute {self.monitor!r}: {sorted(valid)}")
        value = self.sign * valid[self.monitor]
        margin = self.min_improvement * abs(self.best_value) if self.best_epoch else 0.0
        if value > self.best_value + margin:
            self.best_value, self.best_epoch, self.best_valid = value, epoch, valid
            self.best_state, self.stale = weights_snapshot(model), 0
        else:
            self.stale += 1
        return self.stale >= self.patience

    @property
    def best(self) -> tuple[str, float, int]:
        """(monitor, best value, its epoch), for the progress line."""
        return self.monitor, self.sign * self.best_value, self.best_epoch


@dataclass(frozen=True)
class EpochRows:
    """One epoch's (user, item) rows, on the training device, and the order they are visited
    in (this rank's slice of it under ``torchrun``)."""

    users: Tensor
    items: Tensor
    cursors: Tensor | None
    order: Tensor


@dataclass(frozen=True)
class LinkPairs:
    """One epoch's user-user pairs (edges, then sampled non-edges) and each step's share."""

    a: Tensor
    b: Tensor
    labels: Tensor
    chunks: list[np.ndarray]


@dataclass(frozen=True)
class _Catalogue:
    """What an epoch's rows are drawn from: the training interactions and the items they hold."""

    users: np.ndarray
    items: np.ndarray
    cursors: np.ndarray | None
    seen_keys: np.ndarray
    train_items: np.ndarray
    in_catalogue: np.ndarray
    """Each item's position among ``train_items`` (-1 for none): a softmax row's class."""


@_subnormals_flushed()
def train_multitask(
    model: MultiTaskRecommender,
    train: pd.DataFrame,
    tasks: Mapping[str, TaskConfig],
    config: TrainingConfig,
    validate: Callable[[MultiTaskRecommender], dict[str, float]] | None,
    label: str = "train",
) -> TrainingResult:
    """Train ``model`` in place and return the best epoch's weights and the history.

    ``validate`` returns validation metrics for the model in its current state, including
    ``config.monitor``, which early stopping optimises in its direction. ``None``: no
    validation data (a refit on every interaction): all ``config.epochs`` epochs run and the
    last one's weights are returned. Each epoch logs one line (``label``, losses, the monitored
    metric and the best so far, seconds) at INFO on this module's logger, on rank 0 only.

    Inside an initialised ``torch.distributed`` process group (``torchrun``; see
    :mod:`mtrec.workflows.distributed`) every rank builds the same epoch (same seed), takes an
    equal slice of it and a ``batch_size / world`` share of each batch, so one step sees the
    same global batch as a single process; DDP averages the gradients, the weighting scheme's
    learned parameters and epoch losses are averaged by hand, and every rank validates the
    same synchronised weights, so all ranks stop at the same epoch.

    Subnormal floats are flushed to zero while it runs (and the setting is off again after):
    with weight decay, the Adam moments of parameters the loss never reaches (ids unseen in
    training) sink into subnormals, which x86 CPUs compute about a hundred times slower: with
    weight decay, epochs grew about ninefold after a few epochs without the flush.
    """
    roles = TaskRoles.of(tasks)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    softmax = config.ranking_loss == "softmax"
    _check_ranking_loss(model, roles, softmax)
    source = _catalogue(model, train)
    positive_labels = interaction_labels(train, tasks, model.spec.n_users)
    item_topic = model.item_topic.cpu().numpy()
    positive_labels |= {
        name: next_topic_shares(train, item_topic, model.spec.n_topics, tasks[name].horizon)
        for name in roles.distributions
    }
    if roles.links and model.spec.n_friend_links == 0:
        raise ValueError(f"link tasks {list(roles.links)} need user-user edges (data.edges)")
    # The input layers feed every task in every architecture: GradNorm balances there.
    shared = [*model.user_inputs.parameters(), *model.item_inputs.parameters()]
    weighting = make_weighting(
        config.task_weighting, roles.weights, shared, config.dwa_temperature, config.gradnorm_alpha
    )
    device = training_device(config.device)
    # Validation and the returned weights stay on the CPU; only the training steps move.
    model.to(device)
    weighting.to(device)
    learned = [p for name, p in weighting.named_parameters() if not name.startswith("gn_")]
    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    rank = dist.get_rank() if world > 1 else 0
    if world > 1 and isinstance(weighting, GradNorm):
        raise ValueError("GradNorm is not supported in distributed training")
    # Some heads get no gradient in a batch (a user-level head's item side, a task with no
    # positives in the slice): DDP must not wait for them.
    network = (
        DistributedDataParallel(
            model,
            find_unused_parameters=True,
            device_ids=[device.index] if device.type == "cuda" else None,
        )
        if world > 1
        else model
    )
    local_batch = max(1, config.batch_size // world)
    sparse_tables = _sparse_id_tables(model, config, weighting, world)
    sparse = {id(table.weight) for table in sparse_tables}
    # fused: one kernel for every parameter instead of a loop of small ops (an epoch on
    # MovieLens-100k took 7% less time on two cores).
    optimizers: list[torch.optim.Optimizer] = [
        torch.optim.Adam(
            [p for p in [*model.parameters(), *learned] if id(p) not in sparse],
            lr=config.learning_rate,
            weight_decay=config.weight_decay,
            fused=True,
        )
    ]
    if sparse_tables:
        optimizers.append(
            torch.optim.SparseAdam([t.weight for t in sparse_tables], lr=config.learning_rate)
        )
    schedules = [
        torch.optim.lr_scheduler.ExponentialLR(optimizer, config.learning_rate_decay)
        for optimizer in optimizers
    ]
    started = time.perf_counter()
    history: list[EpochLog] = []
    stopping = EarlyStopping(config.monitor, config.patience, model, config.min_improvement)
    # Softmax: no sampled negatives; each positive is scored against every candidate item
    # (those with training interactions, the pool negatives are drawn from), and a batch's
    # item indices are positions in that catalogue.
    k = 0 if softmax else config.negatives_per_positive
    catalogue = torch.from_numpy(source.train_items).to(device)
    labels, is_pos = _row_labels(positive_labels, tasks, roles, len(source.users), k, softmax)
    labels = {name: value.to(device) for name, value in labels.items()}
    is_pos = is_pos.to(device)
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        rows_of_epoch = _epoch_rows(
            source, k, softmax, rng, device, rank, world, local_batch, config.negative_pool or 0
        )
        n_steps = len(range(0, len(rows_of_epoch.order), local_batch))
        links = (
            _link_pairs(model, config.negatives_per_positive, n_steps, rng, device, rank, world)
            if roles.links
            else None
        )
        network.train()
        sums = dict.fromkeys([*roles.weights, "total"], 0.0)
        for step in range(n_steps):
            rows = rows_of_epoch.order[step * local_batch : (step + 1) * local_batch]
            batch, link_labels = _batch(rows_of_epoch, rows, links, step, softmax, catalogue)
            with _sparse_gradients(sparse_tables):
                per_task = _step_losses(
                    network, model, batch, rows, labels, is_pos, roles, softmax, link_labels
                )
            if isinstance(weighting, GradNorm):
                weighting.gradnorm_step(per_task)
            total = weighting.combine(per_task)
            for optimizer in optimizers:
                optimizer.zero_grad(set_to_none=True)
            total.backward()
            if world > 1:
                _average_gradients(learned, world)
            for optimizer in optimizers:
                optimizer.step()
            sums["total"] += float(total.detach())
            for task, loss in per_task.items():
                sums[task] += float(loss.detach())
        for schedule in schedules:
            schedule.step()
        del rows_of_epoch, links  # freed before validation and the next epoch's rows
        mean_losses = {name: value / n_steps for name, value in sums.items()}
        if world > 1:
            mean_losses = _average_across_ranks(mean_losses, world, device)
        weighting.end_epoch(mean_losses)
        model.eval()
        model.to("cpu")  # the same Parameter objects: the optimizer's state stays valid
        valid_metrics = validate(model) if validate is not None else {}
        history.append(
            EpochLog(
                epoch=epoch,
                losses=mean_losses,
                valid=valid_metrics,
                seconds=time.perf_counter() - epoch_start,
                weights=weighting.current(),
            )
        )
        stop = validate is not None and stopping.update(epoch, valid_metrics, model)
        if rank == 0:
            best = stopping.best if validate is not None else None
            logger.info(describe_epoch(label, history[-1], config.epochs, best))
        if stop:
            break
        model.to(device)
    model.to("cpu")
    if validate is None:  # no validation: the last epoch's weights
        stopping.best_state, stopping.best_epoch = weights_snapshot(model), epoch
    model.load_state_dict(stopping.best_state)
    model.eval()
    return TrainingResult(
        state_dict=stopping.best_state,
        history=tuple(history),
        best_epoch=stopping.best_epoch,
        best_valid=stopping.best_valid,
        seconds=time.perf_counter() - started,
    )


def sparse_id_gradients(config: TrainingConfig, id_rows: int) -> bool:
    """Whether id tables of ``id_rows`` rows (users plus items) train with sparse gradients:
    ``config.id_gradients``, with ``auto`` sparse above
    :data:`mtrec.numerics.SPARSE_ROWS_PER_BATCH_ROW` rows per batch row. Never with weight
    decay (SparseAdam has none; decay touches every row
    anyway) or several processes (DDP all-reduces dense gradients)."""
    if config.weight_decay > 0 or config.nproc > 1:
        return False
    if config.id_gradients == "auto":
        return sparse_rows_pay(id_rows, config.batch_size)
    return config.id_gradients == "sparse"


def _sparse_id_tables(
    model: MultiTaskRecommender, config: TrainingConfig, weighting: nn.Module, world: int
) -> list[nn.Embedding]:
    """The id tables that train with sparse gradients (:func:`sparse_id_gradients`); none
    under GradNorm (its gradient norms are dense) or in a process group."""
    tables = [model.user_inputs.ids, model.item_inputs.ids]
    rows = sum(table.num_embeddings for table in tables)
    if world > 1 or isinstance(weighting, GradNorm):
        return []
    return tables if sparse_id_gradients(config, rows) else []


@contextlib.contextmanager
def _sparse_gradients(tables: Sequence[nn.Embedding]) -> Iterator[None]:
    """The tables' lookups give sparse gradients inside the block (the flag is read when a
    lookup runs), dense again after it: the network itself stays as it was built."""
    for table in tables:
        table.sparse = True
    try:
        yield
    finally:
        for table in tables:
            table.sparse = False


def _check_ranking_loss(model: MultiTaskRecommender, roles: TaskRoles, softmax: bool) -> None:
    if softmax and model.spec.ranking_interaction != "dot":
        raise ValueError("training.ranking_loss 'softmax' needs model.ranking_interaction 'dot'")
    if softmax and roles.entire_space:
        raise ValueError(
            f"funnel tasks {list(roles.entire_space)} need training.ranking_loss 'bce'"
        )


def _catalogue(model: MultiTaskRecommender, train: pd.DataFrame) -> _Catalogue:
    users = train["user_idx"].to_numpy(np.int64)
    items = train["item_idx"].to_numpy(np.int64)
    train_items = np.unique(items)
    in_catalogue = np.full(model.spec.n_items, -1, dtype=np.int64)
    in_catalogue[train_items] = np.arange(len(train_items))
    return _Catalogue(
        users=users,
        items=items,
        cursors=history_cursors(model, train) if model.reads_history else None,
        seen_keys=np.unique(users * model.spec.n_items + items),
        train_items=train_items,
        in_catalogue=in_catalogue,
    )


def _row_labels(
    positive_labels: Mapping[str, np.ndarray],
    tasks: Mapping[str, TaskConfig],
    roles: TaskRoles,
    n_positives: int,
    k: int,
    softmax: bool,
) -> tuple[dict[str, Tensor], Tensor]:
    """Each task's labels by epoch row, and which rows are positives.

    An epoch's rows are the positives (0 .. P - 1), then k sampled negatives per positive. The
    layout is the same every epoch, so are the labels: ranking labels cover every row, a
    positive-only task's just the positives, the only rows it is asked for."""
    is_pos = torch.zeros(n_positives * (1 + k), dtype=torch.bool)
    is_pos[:n_positives] = True
    labels = {
        name: is_pos.float()
        for name, task in tasks.items()
        if task.kind == "ranking" and not softmax
    }
    labels |= {
        name: torch.from_numpy(positive_labels[name]).float() for name in roles.positive_only
    }
    # An entire-space task's sampled negatives reached no stage: label 0.
    labels |= {
        name: torch.cat(
            [torch.from_numpy(positive_labels[name]).float(), torch.zeros(n_positives * k)]
        )
        for name in roles.entire_space
    }
    return labels, is_pos


def _epoch_rows(
    source: _Catalogue,
    k: int,
    softmax: bool,
    rng: np.random.Generator,
    device: torch.device,
    rank: int,
    world: int,
    local_batch: int = 1,
    pool_size: int = 0,
) -> EpochRows:
    """The positives, ``k`` fresh negatives each, and a shuffled order (a slice per rank).
    Each column is written once into its (P * (1 + k),) array: concatenating the positives
    with repeated copies held every column twice (over a GB more at a 10M log's epoch).
    ``pool_size``: the positives of one step's batch draw their negatives from one shared
    pool of that many items (``training.negative_pool``)."""
    users, items = source.users, source.items
    per_rank = len(users) * (1 + k) // world  # equal slices: every rank runs as many steps
    order = None
    if softmax:
        batch_items = source.in_catalogue[items]
    else:
        groups = None
        if pool_size:  # the order first: a positive's pool is its batch's
            order = grouped_order(len(users), k, rng)
            groups = _step_of_positives(order, len(users), k, per_rank, local_batch)
        _, neg_items = sample_negatives(
            users,
            len(source.in_catalogue),
            source.seen_keys,
            k,
            rng,
            source.train_items,
            groups,
            pool_size,
        )
        batch_items = _with_negatives(items, k)
        batch_items[len(items) :] = neg_items
        del neg_items, groups
    cursors = None
    if source.cursors is not None:  # a positive's negatives share its history
        cursors = torch.from_numpy(_with_negatives(source.cursors, k, repeat=True)).to(device)
    batch_users = torch.from_numpy(_with_negatives(users, k, repeat=True)).to(device)
    if order is None:
        order = grouped_order(len(users), k, rng)
    rank_rows = torch.from_numpy(order[rank * per_rank : (rank + 1) * per_rank]).to(device)
    return EpochRows(batch_users, torch.from_numpy(batch_items).to(device), cursors, rank_rows)


def _step_of_positives(
    order: np.ndarray, n_positives: int, k: int, per_rank: int, local_batch: int
) -> np.ndarray:
    """For each positive, the (rank, step) whose batch holds it in ``order``, as one index:
    ranks take consecutive ``per_rank`` slices, steps ``local_batch`` rows of a slice. Rows
    past the last full slice (dropped) count as one more rank."""
    position = np.empty(n_positives, dtype=np.int64)
    position[order[:: 1 + k]] = np.arange(n_positives) * (1 + k)
    rank, within = np.divmod(position, max(per_rank, 1))
    return rank * -(-max(per_rank, 1) // local_batch) + within // local_batch


def _with_negatives(column: np.ndarray, k: int, repeat: bool = False) -> np.ndarray:
    """``column`` followed by room for ``k`` rows per entry, in one array: left empty, or
    (``repeat``) each entry ``k`` times (``np.repeat``), what a positive's negatives share."""
    rows = np.empty(len(column) * (1 + k), dtype=np.int64)
    rows[: len(column)] = column
    if repeat:
        rows[len(column) :].reshape(len(column), k)[:] = column[:, None]
    return rows


def _link_pairs(
    model: MultiTaskRecommender,
    per_edge: int,
    n_steps: int,
    rng: np.random.Generator,
    device: torch.device,
    rank: int,
    world: int,
) -> LinkPairs:
    """The model's social links (the training edges) against ``per_edge`` sampled non-edges
    each, spread over the epoch's steps."""
    n_users = model.spec.n_users
    link_users = np.repeat(np.arange(n_users), model.friend_indptr.diff().cpu().numpy())
    link_friends = model.friend_indices.cpu().numpy()
    link_keys = np.unique(link_users * n_users + link_friends)
    neg_a, neg_b = sample_negatives(link_users, n_users, link_keys, per_edge, rng)
    pairs_a = torch.from_numpy(np.concatenate([link_users, neg_a])).to(device)
    pairs_b = torch.from_numpy(np.concatenate([link_friends, neg_b])).to(device)
    labels = torch.zeros(len(pairs_a), device=device)
    labels[: len(link_users)] = 1.0
    order = rng.permutation(len(pairs_a))
    if world > 1:
        per_rank = len(order) // world
        order = order[rank * per_rank : (rank + 1) * per_rank]
    return LinkPairs(pairs_a, pairs_b, labels, np.array_split(order, n_steps))


def _batch(
    rows_of_epoch: EpochRows,
    rows: Tensor,
    links: LinkPairs | None,
    step: int,
    softmax: bool,
    catalogue: Tensor,
) -> tuple[dict[str, Tensor], Tensor | None]:
    """One step's batch for the network, and the labels of its user-user pairs (``None``
    without link tasks)."""
    batch = {
        "user": rows_of_epoch.users.index_select(0, rows),
        "item": rows_of_epoch.items.index_select(0, rows),
    }
    if softmax:
        batch["catalogue"] = catalogue
    if rows_of_epoch.cursors is not None:
        batch["cursor"] = rows_of_epoch.cursors.index_select(0, rows)
    if links is None:
        return batch, None
    chunk = torch.from_numpy(links.chunks[step]).to(links.a.device)
    batch |= {"link_user": links.a[chunk], "link_friend": links.b[chunk]}
    return batch, links.labels[chunk]


def _step_losses(
    network: nn.Module,
    model: MultiTaskRecommender,
    batch: dict[str, Tensor],
    rows: Tensor,
    labels: Mapping[str, Tensor],
    is_pos: Tensor,
    roles: TaskRoles,
    softmax: bool,
    link_labels: Tensor | None,
) -> dict[str, Tensor]:
    """One step's per-task losses (zero for a link task with no pairs in the step)."""
    ranking = model.spec.ranking_task
    positives = is_pos.index_select(0, rows).nonzero().squeeze(1)  # (P,) batch positions
    outputs = network(batch, dict.fromkeys(roles.positive_only, positives))
    # A positive-only task's output holds just the positives' rows.
    labelled = {t: rows[positives] if t in roles.positive_only else rows for t in labels}
    per_task = task_losses(
        outputs,
        {t: y.index_select(0, labelled[t]) for t, y in labels.items()},
        {},
        {t: w for t, w in roles.pair_weights.items() if not (softmax and t == ranking)},
        roles.regression,
        roles.distributions,
    )
    if softmax:  # (B, C) logits, the row's own item the class
        per_task[ranking] = F.cross_entropy(outputs[ranking], batch["item"])
    for task in roles.links:
        assert link_labels is not None
        per_task[task] = (
            F.binary_cross_entropy_with_logits(outputs[task], link_labels)
            if len(link_labels)
            else torch.zeros((), device=link_labels.device)
        )
    return per_task


def describe_epoch(
    label: str, log: EpochLog, epochs: int, best: tuple[str, float, int] | None = None
) -> str:
    """One progress line: ``[train] epoch 3/30  loss 0.4123 (watch 0.3012, like 0.5123)
    valid ndcg@10 0.1412, best 0.1420 at epoch 2  5.4 s``; ``best`` (monitor, value, epoch)
    is ``None`` for a training without validation."""
    tasks = ", ".join(
        f"{name} {value:.4f}" for name, value in log.losses.items() if name != "total"
    )
    line = f"[{label}] epoch {log.epoch}/{epochs}  loss {log.losses.get('total', 0.0):.4f}"
    line += f" ({tasks})" if tasks else ""
    if best is not None:
        monitor, value, epoch = best
        line += f"  valid {monitor} {log.valid[monitor]:.4f}, best {value:.4f} at epoch {epoch}"
    return f"{line}  {log.seconds:.1f} s"


def _average_gradients(parameters: Sequence[Tensor], world: int) -> None:
    for parameter in parameters:
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad)
            parameter.grad /= world


def _average_across_ranks(
    values: dict[str, float], world: int, device: torch.device
) -> dict[str, float]:
    names = sorted(values)
    # NCCL reduces GPU tensors only; float64 is fine for both backends.
    stacked = torch.tensor([values[name] for name in names], dtype=torch.float64, device=device)
    dist.all_reduce(stacked)
    return {name: float(v) / world for name, v in zip(names, stacked, strict=True)}
