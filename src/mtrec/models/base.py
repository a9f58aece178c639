"""The interface every multi-task recommender here shares: :class:`MultiTaskRecommender`.

Inputs: a user (item) is an id embedding plus a projection of its frozen language-model text
embedding. The id embedding is scaled by a per-id weight in [0, 1] (the ``*_seen`` buffers): ids
with no training interaction get 0, so an unseen item is scored from its text alone instead of
from an untrained random row, and rarely seen items get a shrunken id (``n / (n + c)``, see
:func:`mtrec.workflows.fit.build_model`); with ``item_id_dropout`` the
item id is hidden for a share of each batch's items (Volkovs et al., "DropoutNet", NeurIPS 2017) so
the towers also learn to score from text alone.

Each architecture turns the user and item inputs into one representation per task
(``task_users`` / ``task_items``); each task tower then reads the pair through a NeuMF-style
interaction (He et al., "Neural Collaborative Filtering", WWW 2017): a generalised
matrix-factorisation term on ``u * v`` plus an MLP over ``[u * v, u, v]``, or, for the ranking
task with ``ranking_interaction="dot"``, the factorisation term alone (:class:`DotTower`).
Keeping the pair interaction in the towers lets ``score_items`` compute the catalogue's item
representations once and rank it with batched products instead of one network call per
(user, item) pair; the dot head makes that a single (B, H) x (H, I) matrix product.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, Self, cast

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mtrec.models.baselines.itemknn import csr_rows
from mtrec.models.item_item import blend, known_matrix
from mtrec.models.layers import DotTower, HistoryPooling, Inputs, PairTower, funnel_logit, mlp
from mtrec.models.spec import ModelSpec

_SCORE_BLOCK = 1 << 24  # catalogue scores held at once by ranking_topic_shares (64 MB)
_TINY_SHARE = 1e-12  # floor under an expected topic share before its log


class SideNetwork(Protocol):
    """What an architecture's ``side`` builds, once for users and once for items: inputs
    (B, D) -> {task: (B, H)}, H its ``out_dim``."""

    out_dim: int

    def __call__(self, x: Tensor) -> dict[str, Tensor]: ...


class MultiTaskRecommender(nn.Module):
    """The interface every architecture shares: ``forward(batch) -> {task: output}``.

    ``batch`` holds ``user`` and ``item`` index tensors of shape (B,), and, for link tasks,
    ``link_user`` and ``link_friend`` of shape (L,). Ranking, binary, funnel and link outputs
    are logits (a funnel task's, of p(after) * p(task | after)); a regression output is the
    predicted value itself (e.g. the rating).
    An architecture only names its ``side`` network: built once for users and once for items,
    it maps inputs (B, 2E) to one representation per task ``{task: (B, H)}`` and exposes
    ``out_dim`` (H).
    """

    side: Callable[[int, ModelSpec], SideNetwork]
    # Buffers (register_buffer), declared for the type checker.
    friend_indptr: Tensor
    friend_indices: Tensor
    user_text: Tensor
    item_text: Tensor
    user_seen: Tensor
    item_seen: Tensor
    item_topic: Tensor
    history_indptr: Tensor
    history_items: Tensor
    item_item: Tensor

    def __init__(
        self,
        spec: ModelSpec,
        user_text: Tensor,
        item_text: Tensor,
        user_seen: Tensor | None = None,
        item_seen: Tensor | None = None,
        friends: Tensor | None = None,
        item_topic: Tensor | None = None,
    ):
        """``friends``: (L, 2) directed (user, friend) index pairs sorted by user, the social
        input; required when ``spec.n_friend_links`` > 0 (zeros are fine before loading
        weights, which carry the links). ``item_topic``: (I,) each item's topic in
        ``[0, spec.n_topics)``, what the interest tasks' labels and shares count (zeros are
        fine before loading weights)."""
        super().__init__()
        self.spec = spec
        links = friends if friends is not None else torch.zeros(spec.n_friend_links, 2).long()
        if len(links) != spec.n_friend_links:
            raise ValueError(f"spec expects {spec.n_friend_links} friend links, got {len(links)}")
        counts = torch.bincount(links[:, 0], minlength=spec.n_users)
        indptr = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])  # (U + 1,)
        self.register_buffer("friend_indptr", indptr)
        self.register_buffer("friend_indices", links[:, 1].contiguous())  # (L,)
        self.register_buffer("user_text", user_text.float())  # (U, Du)
        self.register_buffer("item_text", item_text.float())  # (I, Di)
        ones_u, ones_i = torch.ones(spec.n_users), torch.ones(spec.n_items)
        self.register_buffer("user_seen", ones_u if user_seen is None else user_seen.float())
        self.register_buffer("item_seen", ones_i if item_seen is None else item_seen.float())
        topic = torch.zeros(spec.n_items, dtype=torch.long) if item_topic is None else item_topic
        if len(topic) != spec.n_items or (
            len(topic) and (topic.min() < 0 or topic.max() >= max(spec.n_topics, 1))
        ):
            raise ValueError(f"item_topic must hold one topic in [0, {spec.n_topics}) per item")
        self.register_buffer("item_topic", topic.long())  # (I,)
        self.user_inputs = Inputs(spec.n_users, spec.user_text_dim, spec)
        self.item_inputs = Inputs(spec.n_items, spec.item_text_dim, spec, spec.item_id_dropout)
        # The known interactions the history input reads: user u's items, oldest first, are
        # history_items[history_indptr[u]:history_indptr[u + 1]] (see set_history).
        self.register_buffer("history_indptr", torch.zeros(spec.n_users + 1, dtype=torch.long))
        self.register_buffer("history_items", torch.zeros(0, dtype=torch.long))
        if spec.item_item_weight > 0:  # filled by the fit (mtrec.workflows.fit) or the weights
            self.register_buffer("item_item", torch.zeros(spec.n_items, spec.n_items))  # (I, I)
        self.history = (
            HistoryPooling(self.item_inputs.out_dim, spec.history_length, spec.history_pooling)
            if spec.history_length
            else None
        )
        # The social input appends the mean of the friends' inputs (2E), the history input the
        # pooled recent items (2E).
        inputs = (2 if spec.n_friend_links else 1) + (1 if spec.history_length else 0)
        inputs += 1 if spec.profile_length else 0
        self.user_net = self.side(inputs * self.user_inputs.out_dim, spec)
        self.item_net = self.side(self.item_inputs.out_dim, spec)
        dim = int(self.user_net.out_dim)
        own_heads = {*spec.user_tasks, *spec.link_tasks}
        pair_tasks = [task for task in spec.tasks if task not in own_heads]
        self.link_towers = nn.ModuleDict(
            {task: PairTower(dim, spec.tower_dims, spec.dropout) for task in spec.link_tasks}
        )
        self.towers = nn.ModuleDict(
            {
                task: DotTower(dim)
                if task == spec.ranking_task and spec.ranking_interaction == "dot"
                else PairTower(dim, spec.tower_dims, spec.dropout)
                for task in pair_tasks
            }
        )
        # A user-level task reads only its user representation: (B, H) -> (B,), or (B, T)
        # topic logits for an interest task.
        head_in = spec.tower_dims[-1] if spec.tower_dims else dim
        self.user_heads = nn.ModuleDict(
            {
                task: nn.Sequential(
                    *mlp([dim, *spec.tower_dims], spec.dropout),
                    nn.Linear(head_in, spec.n_topics if task in spec.interest_tasks else 1),
                )
                for task in spec.user_tasks
            }
        )
        # Per interest task: the floors under the recent and long-term topic shares (raw;
        # softplus(-3) = 0.05) and the weights of their logs, recent 1 and long-term 0 at first.
        self.interest_mix = nn.ParameterDict(
            {
                task: nn.Parameter(torch.tensor([-3.0, -3.0, 1.0, 0.0]))
                for task in spec.interest_tasks
            }
        )

    def task_users(self, idx: Tensor, cursor: Tensor | None = None) -> dict[str, Tensor]:
        """Per-task user representations. ``cursor`` (B,): a training row's own position in
        ``history_items``, which its history never reads (see :meth:`history_window`);
        ``None``: the user's newest known interactions (scoring now)."""
        x = self.user_inputs(idx, self.user_text, self.user_seen)  # (B, 2E)
        if self.history is not None:
            x = torch.cat([x, self.history_input(idx, cursor)], dim=-1)
        if self.spec.profile_length:
            x = torch.cat([x, self.profile_input(idx, cursor)], dim=-1)
        if self.spec.n_friend_links:
            x = torch.cat([x, self.friend_mean(idx)], dim=-1)
        return self.user_net(x)  # {task: (B, H)}

    @property
    def reads_history(self) -> bool:
        """Whether scoring reads the user's known interactions (the user side's window or
        profile, or the item-item component)."""
        return bool(
            self.spec.history_length or self.spec.profile_length or self.spec.item_item_weight
        )

    def blend_item_item(
        self, users: Tensor, scores: Tensor, newer: Sequence[np.ndarray] | None = None
    ) -> Tensor:
        """The ranking task's catalogue ``scores`` (B, I) of ``users`` blended with the
        item-item component's over their known items (and each row's ``newer`` ones), as
        :func:`mtrec.models.item_item.blend`; unchanged without a component."""
        weight = self.spec.item_item_weight
        if weight <= 0:
            return scores
        known = known_matrix(
            self.history_indptr, self.history_items, users, self.spec.n_items, newer
        )  # (B, I)
        return blend(scores, known @ self.item_item, weight)

    def set_history(self, users: np.ndarray, items: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Make (users, items, times) the known interactions the history input reads, and
        return their order in ``history_items`` (a stable sort by user, then time, ties in the
        given order): interaction ``order[j]`` sits at position ``j``, so the history before it
        ends at cursor ``j``. Scoring after this reads each user's newest interactions, with
        no retraining: how new interactions reach a served model."""
        users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
        if len(users) and (users.min() < 0 or users.max() >= self.spec.n_users):
            raise ValueError(f"history users must lie in [0, {self.spec.n_users})")
        if len(items) and (items.min() < 0 or items.max() >= self.spec.n_items):
            raise ValueError(f"history items must lie in [0, {self.spec.n_items})")
        order = np.lexsort((np.arange(len(users)), np.asarray(times), users))
        counts = np.bincount(users, minlength=self.spec.n_users)
        device = self.history_indptr.device
        self.history_indptr = torch.from_numpy(np.r_[0, np.cumsum(counts)]).to(device)
        self.history_items = torch.from_numpy(items[order]).to(device)
        return order

    def reading(self, users: np.ndarray, items: np.ndarray, times: np.ndarray) -> Self:
        """A twin of this network that reads (users, items, times) as its known history
        (:meth:`set_history`) and shares every weight and buffer with it: what scoring with a
        newer history needs, without a second copy of the weights and text tables (half a
        gigabyte at 200,000 users). Neither changes the other's history; the shared weights
        must not be trained through the twin."""
        shared: dict[int, object] = {
            id(value): value
            for module in self.modules()
            for value in (
                *module._parameters.values(),
                *module._buffers.values(),
                *vars(module).values(),  # cached tables such as the topic prefix
            )
            if isinstance(value, Tensor)
        }
        twin = copy.deepcopy(self, memo=shared)
        twin.set_history(users, items, times)
        return twin

    def history_window(self, idx: Tensor, cursor: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The items a row's history reads, newest first, and where one is: (B, L) each, or
        (B, L + 1) with one slot empty for ``history_context: others``.

        Without a cursor: the user's newest ``L`` known interactions. With a training row's
        ``cursor`` (its own position): ``before`` reads the ``L`` interactions just before it
        (what predicting the next interaction sees: right for time-ordered evaluation);
        ``others`` reads the user's newest ``L`` interactions other than the row itself (what
        predicting a held-out interaction from the rest sees: right when valid and test are
        drawn at random from a user's timeline, RecBole's ``RO``). Neither ever reads the
        row's own item, nor anything outside ``history_items`` (the training split)."""
        start, end = self.history_indptr[idx], self.history_indptr[idx + 1]  # (B,) each
        length = self.spec.history_length
        others = cursor is not None and self.spec.history_context == "others"
        if cursor is not None and not others:
            end = cursor
        steps = torch.arange(length + 1 if others else length, device=idx.device)
        position = end.unsqueeze(1) - 1 - steps  # (B, L), newest first
        present = position >= start.unsqueeze(1)
        if others:
            assert cursor is not None
            present &= position != cursor.unsqueeze(1)
            # L items: the slot past the newest L is used only when the row itself is in them.
            present[:, length] &= cursor >= end - length
        if len(self.history_items) == 0:
            return torch.zeros_like(position), torch.zeros_like(present)
        items = self.history_items[position.clamp(min=0)]
        return items.masked_fill(~present, 0), present

    def history_input(self, idx: Tensor, cursor: Tensor | None = None) -> Tensor:
        """The pooled history of each row: (B,) -> (B, 2E); zeros for a user with none."""
        assert self.history is not None
        items, present = self.history_window(idx, cursor)  # (B, L) each
        # Each distinct item's inputs once: a batch's histories repeat popular items.
        distinct, inverse = torch.unique(items, return_inverse=True)
        x = self.item_inputs(distinct, self.item_text, self.item_seen)  # (D, 2E)
        return self.history(x, inverse.view(items.shape), present)

    def profile_input(self, idx: Tensor, cursor: Tensor | None = None) -> Tensor:
        """The long-term profile: the mean input of the user's newest ``profile_length``
        interactions that the history may read (before the row, or all but the row, by
        ``history_context``; every known one when scoring): (B,) -> (B, 2E), zeros for none.
        Long-term interests beside the recent window; an average, so it costs a gather and a
        sum per interaction, whatever the catalogue."""
        start, end = self.history_indptr[idx], self.history_indptr[idx + 1]  # (B,) each
        others = cursor is not None and self.spec.history_context == "others"
        if cursor is not None and not others:
            end = cursor
        start = torch.maximum(start, end - self.spec.profile_length - (1 if others else 0))
        counts = (end - start).clamp(min=0)  # (B,)
        total = int(counts.sum())
        if total == 0:
            return torch.zeros(len(idx), self.item_inputs.out_dim, device=idx.device)
        rows = torch.repeat_interleave(torch.arange(len(idx), device=idx.device), counts)
        ends = counts.cumsum(0)
        first = torch.repeat_interleave(ends - counts, counts)  # (T,)
        position = (
            torch.repeat_interleave(start, counts) + torch.arange(total, device=idx.device) - first
        )
        weight = torch.ones(total, device=idx.device)
        if others:
            assert cursor is not None
            weight = (position != cursor[rows]).to(weight.dtype)  # never the row itself
        n = torch.zeros(len(idx), device=idx.device).index_add_(0, rows, weight)  # (B,)
        distinct, inverse = torch.unique(self.history_items[position], return_inverse=True)
        x = self.item_inputs(distinct, self.item_text, self.item_seen)  # (D, 2E)
        # The means as one sparse (B, D) x (D, 2E) product: a gather and a scatter over every
        # interaction took 20 times as long, forward and backward.
        crow = torch.cat([ends.new_zeros(1), ends])
        means = weight / n.clamp(min=1)[rows]  # (T,)
        order = torch.argsort(rows * len(distinct) + inverse)  # columns sorted within rows
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            matrix = torch.sparse_csr_tensor(
                crow,
                inverse[order],
                means[order],
                (len(idx), len(distinct)),
                check_invariants=False,
            )
        return matrix @ x  # (B, 2E)

    def friend_mean(self, idx: Tensor) -> Tensor:
        """Mean input of each user's friends, zero for users without any: (B,) -> (B, 2E)."""
        starts, ends = self.friend_indptr[idx], self.friend_indptr[idx + 1]
        counts = ends - starts  # (B,)
        total = int(counts.sum())
        out = torch.zeros(len(idx), self.user_inputs.out_dim, device=idx.device)
        if total == 0:
            return out
        owner = torch.repeat_interleave(torch.arange(len(idx), device=idx.device), counts)
        first = torch.repeat_interleave(counts.cumsum(0) - counts, counts)  # (T,)
        position = (
            torch.repeat_interleave(starts, counts) + torch.arange(total, device=idx.device) - first
        )
        friends = self.friend_indices[position]  # (T,)
        x = self.user_inputs(friends, self.user_text, self.user_seen)  # (T, 2E)
        out.index_add_(0, owner, x)
        return out / counts.clamp(min=1).unsqueeze(-1).to(out.dtype)

    def task_items(self, idx: Tensor) -> dict[str, Tensor]:
        x = self.item_inputs(idx, self.item_text, self.item_seen)  # (B, 2E)
        return self.item_net(x)  # {task: (B, H)}

    def forward(
        self, batch: dict[str, Tensor], task_rows: Mapping[str, Tensor] | None = None
    ) -> dict[str, Tensor]:
        """Outputs per task for the batch's (user, item) rows: {task: (B,)}, and (L,) for link
        tasks. With ``batch["catalogue"]`` (C,) item indices (training with a softmax ranking
        loss), the item side runs once on those items, ``item`` indexes them, and the ranking
        task's output is (B, C): every row's user against every one of them. ``task_rows``
        names, for some tasks, the only rows whose output is needed (say a
        rating head's positives, a fifth of a training batch); such a task's output is then
        (R,), for those rows in that order, and its head runs on R rows instead of B."""
        task_rows = task_rows or {}
        cursor = batch.get("cursor") if self.reads_history else None
        span = len(self.history_items) + 1
        # A positive and its sampled negatives share one user context (user, cursor).
        keys = batch["user"] if cursor is None else batch["user"] * span + cursor
        distinct, user_rows = torch.unique(keys, return_inverse=True)
        distinct_users = distinct if cursor is None else distinct // span
        distinct_cursor = None if cursor is None else distinct % span
        users = self.task_users(distinct_users, distinct_cursor)
        catalogue = "catalogue" in batch
        if catalogue:  # every item once; a row's item is its own index
            items, item_rows = self.task_items(batch["catalogue"]), batch["item"]
        else:
            items, item_rows = _per_distinct(self.task_items, batch["item"])

        def rows_of(task: str, inverse: Tensor) -> Tensor:
            return inverse[task_rows[task]] if task in task_rows else inverse

        out = {}
        for task in self.towers:
            tower = self.tower(task)
            u = users[task].index_select(0, rows_of(task, user_rows))
            if catalogue and task == self.spec.ranking_task:
                # (R, C) logits of each row's user against every catalogue item: a softmax
                # over the catalogue, the row's own item the target.
                out[task] = tower.grid(u, items[task])
            else:
                out[task] = tower.pair(u, items[task].index_select(0, rows_of(task, item_rows)))
        for task, head in self.user_heads.items():
            if task in self.spec.interest_tasks:
                logits = self.interest_logits(task, users[task], distinct_users, distinct_cursor)
                out[task] = logits.index_select(0, rows_of(task, user_rows))
            else:
                out[task] = head(users[task].index_select(0, rows_of(task, user_rows))).squeeze(-1)
        if self.link_towers and "link_user" in batch:
            a, a_rows = _per_distinct(self.task_users, batch["link_user"])
            b, b_rows = _per_distinct(self.task_users, batch["link_friend"])
            for task, link_tower in self.link_towers.items():
                link = cast(PairTower, link_tower)  # a ModuleDict holds plain Modules
                # (L,) link logits
                out[task] = link.pair(
                    a[task].index_select(0, a_rows), b[task].index_select(0, b_rows)
                )
        for task, offset in self.spec.offsets.items():
            out[task] = out[task] + offset
        # Funnel outputs: p(after) * p(task | after), the tasks they follow composed first.
        # Both are on the same rows (a funnel task's rows are those of the task it follows).
        composed: dict[str, Tensor] = {}
        for task in self.spec.funnels:
            self._compose_funnel(task, out, composed)
        return out | composed

    def _compose_funnel(self, task: str, out: dict[str, Tensor], done: dict[str, Tensor]) -> Tensor:
        if task in done or task not in self.spec.funnels:
            return done.get(task, out[task])
        after = self._compose_funnel(self.spec.funnels[task], out, done)
        if after.shape != out[task].shape:
            raise ValueError(
                f"funnel task {task!r} runs on {tuple(out[task].shape)} rows but the task it "
                f"follows on {tuple(after.shape)}: give both the same rows"
            )
        done[task] = funnel_logit(after, out[task])
        return done[task]

    def tower(self, task: str) -> PairTower | DotTower:
        """The head of a (user, item) task, typed: a ``ModuleDict`` holds plain Modules."""
        return cast("PairTower | DotTower", self.towers[task])

    def funnel_chain(self, task: str) -> tuple[str, ...]:
        """``task`` and the tasks it is conditioned on, root last (``(task,)`` for a task that
        is not a funnel): the heads whose probabilities multiply into its output."""
        chain = [task]
        while chain[-1] in self.spec.funnels:
            chain.append(self.spec.funnels[chain[-1]])
        return tuple(chain)

    def _chain_grid(self, users: dict[str, Tensor], items: dict[str, Tensor], task: str) -> Tensor:
        """A task's (B, I) output logits from user and item representations: its tower's, or
        for a funnel task the product of its chain's probabilities as a logit."""
        chain = self.funnel_chain(task)
        logits = self.tower(chain[-1]).grid(users[chain[-1]], items[chain[-1]])
        for step in reversed(chain[:-1]):
            logits = funnel_logit(logits, self.tower(step).grid(users[step], items[step]))
        return logits

    def interest_logits(
        self, task: str, user: Tensor, idx: Tensor, cursor: Tensor | None = None
    ) -> Tensor:
        """An interest task's topic logits: its head over the (B, H) user representation plus
        learned multiples of the log topic shares of what the user side may read (the history
        window, and every known interaction before the row: the long-term profile), each
        smoothed by a learned floor. The head then learns what changes against "the same as
        lately" and "the same as always" instead of relearning the counts: (B, T)."""
        floors, weights = F.softplus(self.interest_mix[task][:2]), self.interest_mix[task][2:]
        logits = self.user_heads[task](user)
        long_term = self.known_topic_counts(idx, cursor)
        long_term = long_term / long_term.sum(dim=1, keepdim=True).clamp(min=1.0)
        logits = logits + weights[1] * torch.log(long_term + floors[1])
        if self.history is None:
            return logits
        items, present = self.history_window(idx, cursor)  # (B, L) each
        recent = torch.zeros(len(idx), self.spec.n_topics, device=idx.device)
        recent.scatter_add_(1, self.item_topic[items], present.to(recent.dtype))
        recent = recent / recent.sum(dim=1, keepdim=True).clamp(min=1.0)
        return logits + weights[0] * torch.log(recent + floors[0])

    def known_topic_counts(self, idx: Tensor, cursor: Tensor | None = None) -> Tensor:
        """Topic counts of every known interaction the user side may read: before the row
        (``history_context: before``), all but the row (``others``), or all of them when
        scoring: (B,) -> (B, T). A difference of two rows of the history's running topic
        counts (:meth:`topic_prefix`), so a row costs the same whatever its user's history
        (gathering each row's whole history made an epoch quadratic in a user's length)."""
        if cursor is None:  # scoring: every known interaction, one table row per user
            return self.user_topic_counts()[idx, : self.spec.n_topics].to(torch.float32)
        start, end = self.history_indptr[idx], self.history_indptr[idx + 1]  # (B,) each
        others = self.spec.history_context == "others"
        if not others:
            end = torch.maximum(cursor, start)
        prefix = self.topic_prefix()  # (N + 1, T)
        counts = (prefix[end] - prefix[start])[:, : self.spec.n_topics].to(torch.float32)
        if others:
            own = (cursor >= start) & (cursor < end)  # never the row itself
            rows = own.nonzero().squeeze(1)
            topics = self.item_topic[self.history_items[cursor[rows]]]
            counts.index_put_(
                (rows, topics), torch.full_like(rows, -1, dtype=counts.dtype), accumulate=True
            )
        return counts

    def _history_key(self) -> tuple[object, ...]:
        """What the tables built from the known history are kept for: a new
        :meth:`set_history`, or loaded weights, changes it."""
        items = self.history_items
        return (items.data_ptr(), items.numel(), items.device, items._version)

    def user_topic_counts(self) -> Tensor:
        """Each user's topic counts over every known interaction: (U, T) int32, what scoring
        reads (a row per user: at 10M interactions a few MB, where :meth:`topic_prefix` holds
        a row per interaction). Built on first use after the history changes, outside the
        state dict."""
        key = self._history_key()
        if getattr(self, "_user_topics_key", None) != key:
            n_topics = max(self.spec.n_topics, 1)
            counts = self.history_indptr.diff()  # (U,)
            users = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)
            cells = users * n_topics + self.item_topic[self.history_items]
            table = torch.bincount(cells, minlength=len(counts) * n_topics)
            self._user_topics = table.to(torch.int32).view(len(counts), n_topics)
            self._user_topics_key = key
        return self._user_topics

    def topic_prefix(self) -> Tensor:
        """Running topic counts of ``history_items``: row ``j`` (of N + 1) counts the topics of
        positions ``0 .. j - 1``, int32, what a training row's counts before its cursor read.
        Built on first use after the history changes and kept outside the state dict."""
        items = self.history_items
        key = self._history_key()
        if getattr(self, "_topic_prefix_key", None) != key:
            one_hot = torch.zeros(
                len(items) + 1, max(self.spec.n_topics, 1), dtype=torch.int32, device=items.device
            )
            if len(items):
                positions = torch.arange(1, len(items) + 1, device=items.device)
                one_hot[positions, self.item_topic[items]] = 1
            self._topic_prefix = one_hot.cumsum_(dim=0)  # in place: one table, not two
            self._topic_prefix_key = key
        return self._topic_prefix

    def score_text_users(self, user_text: Tensor, task: str | None = None) -> Tensor:
        """Scores of every item for users the model has never seen, from their profile text
        embedding alone (no id, no friends), as an untrained user id is scored: (B, Du) ->
        (B, I)."""
        task = task or self.spec.ranking_task
        x = self.user_inputs.from_text(user_text.float())  # (B, 2E)
        # An unknown user has no known interactions: no history, no profile.
        n_history = (1 if self.history is not None else 0) + (1 if self.spec.profile_length else 0)
        x = torch.cat([x] + [torch.zeros_like(x)] * n_history, dim=-1)
        if self.spec.n_friend_links:
            x = torch.cat([x, torch.zeros_like(x[:, : self.user_inputs.out_dim])], dim=-1)
        items = {step: self._catalogue(step) for step in self.funnel_chain(task)}
        return self._chain_grid(self.user_net(x), items, task)

    def score_items(self, users: Tensor, task: str | None = None) -> Tensor:
        """Scores of every catalogue item for each user: (B,) -> (B, I). ``task`` defaults to
        the ranking task; a regression task's scores omit its constant offset; a funnel
        task's are the logits of its product probability, p(after) * p(task | after)."""
        return self.catalogue_scorer(task)(users)

    def interest_shares(self, users: Tensor, task: str | None = None) -> Tensor:
        """An interest task's predicted next-period topic shares of each user, reading every
        known interaction: (B,) -> (B, T), rows summing to 1."""
        if not self.spec.interest_tasks:
            raise ValueError("the model has no interest task")
        task = task or self.spec.interest_tasks[0]
        logits = self.interest_logits(task, self.task_users(users)[task], users)
        blend = self.spec.interest_blend
        logits = blend.head * logits
        if blend.ranking > 0:
            expected = self.ranking_topic_shares(users, (blend.temperature,))[0]
            logits = logits + blend.ranking * torch.log(expected.clamp_min(_TINY_SHARE))
        return torch.softmax(logits, dim=-1)

    def ranking_topic_shares(self, users: Tensor, temperatures: Sequence[float]) -> Tensor:
        """The topic shares of the items the ranking task expects each user to take next:
        ``softmax(scores / t)`` over the catalogue items the user has not interacted with,
        summed by topic, for each temperature ``t``: (B,) -> (len(temperatures), B, T); a
        user who knows the whole catalogue gets the catalogue's own shares. The users go
        through the catalogue in blocks of about 16M scores."""
        scorer = self.catalogue_scorer()
        n_items, n_topics = self.spec.n_items, max(self.spec.n_topics, 1)
        membership = F.one_hot(self.item_topic, n_topics).float()  # (I, T)
        out = torch.zeros(len(temperatures), len(users), n_topics, device=users.device)
        block = max(1, _SCORE_BLOCK // max(n_items, 1))
        for start in range(0, len(users), block):
            rows = users[start : start + block]
            scores = scorer(rows).float()  # (b, I)
            # The known items by their positions: a dense mask of the block cost more than
            # the softmax.
            counts, known = csr_rows(self.history_indptr, self.history_items, rows)
            index = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), counts)
            scores.index_put_((index, known), torch.tensor(-torch.inf, device=scores.device))
            for t, temperature in enumerate(temperatures):
                shares = torch.softmax(scores / temperature, dim=1) @ membership  # (b, T)
                out[t, start : start + len(rows)] = shares
        # Every item known: the softmax of nothing is NaN.
        return torch.where(out.isnan().any(-1, keepdim=True), membership.mean(0), out)

    def catalogue_scorer(
        self, task: str | None = None, conditional: bool = False, item_item: bool = True
    ) -> Callable[[Tensor], Tensor]:
        """``score_items`` for many batches of users: the catalogue's item representations are
        computed once, here, so the weights must not change while the scorer is used.
        ``conditional``: a funnel task's own head, the logit of p(task | after) (ESMM's CVR),
        instead of its output. The ranking task's scores are blended with the item-item
        component's (:meth:`blend_item_item`) unless ``item_item`` is false (the network's
        own scores)."""
        task = task or self.spec.ranking_task
        chain = (task,) if conditional else self.funnel_chain(task)
        items = {step: self._catalogue(step) for step in chain}

        def score(users: Tensor) -> Tensor:
            representations = self.task_users(users)
            if conditional:
                return self.tower(task).grid(representations[task], items[task])
            scores = self._chain_grid(representations, items, task)
            if item_item and task == self.spec.ranking_task:
                return self.blend_item_item(users, scores)
            return scores

        return score

    def mean_scorer(self, groups: Tensor, task: str | None = None) -> Callable[[Tensor], Tensor]:
        """The network's ``score_items(users) @ groups`` (without the item-item component) for
        an (I, G) ``groups`` whose columns each sum to
        one or are zero (means over groups of items, such as topics): (B,) -> (B, G). The dot
        head is linear in the item side, so a plain ranking task's means are scored on the
        groups' mean item representations, G columns instead of the catalogue's I (200,000
        users over 50,000 items took minutes for 20 topics); otherwise the catalogue is scored
        and averaged."""
        task = task or self.spec.ranking_task
        groups = groups.to(torch.float32)
        tower = self.tower(task)
        if not isinstance(tower, DotTower) or len(self.funnel_chain(task)) > 1:
            scorer = self.catalogue_scorer(task, item_item=False)
            return lambda users: scorer(users) @ groups
        means = groups.T @ self._catalogue(task)  # (G, H)
        empty = groups.sum(dim=0) == 0

        def score(users: Tensor) -> Tensor:
            return tower.grid(self.task_users(users)[task], means).masked_fill(empty, 0.0)

        return score

    def ranking_item_vectors(self) -> Tensor:
        """Every catalogue item's representation for the ranking task, (I, H): what the
        item-item component's network kernel compares (:mod:`mtrec.models.item_item`)."""
        return self._catalogue(self.spec.ranking_task)

    def _catalogue(self, task: str) -> Tensor:
        """Every catalogue item's ``task`` representation, for scoring only: (I, H)."""
        with torch.no_grad():
            idx = torch.arange(self.spec.n_items, device=self.item_seen.device)
            return self.task_items(idx)[task]


def _per_distinct(
    side: Callable[[Tensor], dict[str, Tensor]], idx: Tensor
) -> tuple[dict[str, Tensor], Tensor]:
    """``side`` computed once per distinct id: ({task: (D, H)}, (B,) row -> distinct position),
    so ``value.index_select(0, inverse)`` is ``side(idx)``. A training batch repeats users and
    items (positives and their negatives share a user; popular items recur), and the side
    networks are most of a step's cost, so this halves a MovieLens-100k step. Dropout then draws
    one mask per distinct id and batch."""
    distinct, inverse = torch.unique(idx, return_inverse=True)
    return side(distinct), inverse
