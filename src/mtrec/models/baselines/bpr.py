"""Matrix factorisation trained with Bayesian Personalized Ranking.

Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit Feedback", UAI 2009: for each
observed (user, item) and a sampled unobserved item, maximise ``log sigmoid(x_ui - x_uj)`` with
``x_ui = <p_u, q_i> + b_i``; L2 regularisation on the factors.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from mtrec.data.negatives import sample_negatives
from mtrec.numerics import sparse_rows_pay, subnormals_flushed


class BPRMF(nn.Module):
    def __init__(self, n_users: int, n_items: int, dim: int = 64, sparse: bool = False):
        super().__init__()
        self.users = nn.Embedding(n_users, dim, sparse=sparse)
        self.items = nn.Embedding(n_items, dim, sparse=sparse)
        self.item_bias = nn.Embedding(n_items, 1, sparse=sparse)
        for table in (self.users, self.items):
            nn.init.normal_(table.weight, std=0.05)
        nn.init.zeros_(self.item_bias.weight)

    def score_items(self, users: Tensor) -> Tensor:
        return self.users(users) @ self.items.weight.T + self.item_bias.weight.T  # (B, I)


@subnormals_flushed()  # Adam moments of rows batches miss decay into subnormals: ~100x slower
def train_bpr(
    train_users: np.ndarray,
    train_items: np.ndarray,
    n_users: int,
    n_items: int,
    dim: int = 64,
    epochs: int = 30,
    batch_size: int = 2048,
    learning_rate: float = 5e-3,
    l2: float = 1e-5,
    seed: int = 0,
    on_epoch: Callable[[int, BPRMF], bool] | None = None,
) -> BPRMF:
    """Fit BPR-MF with uniform negatives (redrawn when they hit a training pair).

    ``l2`` weighs the squared norms of the batch's user, positive and negative item factors,
    per training pair. ``on_epoch(epoch, model)`` runs after each epoch (counted from 1): it
    can score the model on validation data, and returning True stops the training there.
    The callback must not draw from torch's global random generator, so a run with it trains
    the same weights as a run without it.

    Where the tables are large against the batch (:func:`mtrec.numerics.sparse_rows_pay`:
    the synthetic 10M log's 250,000 rows, not MovieLens' 2,625), their gradients are sparse
    and a lazy Adam step (``SparseAdam``) updates only the batch's rows: a dense step over
    every row would be most of an epoch's time.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    sparse = sparse_rows_pay(n_users + n_items, batch_size)
    model = BPRMF(n_users, n_items, dim, sparse=sparse)
    optimizer: torch.optim.Optimizer = (
        torch.optim.SparseAdam(list(model.parameters()), lr=learning_rate)
        if sparse
        else torch.optim.Adam(model.parameters(), lr=learning_rate, fused=True)
    )
    users, items = train_users.astype(np.int64), train_items.astype(np.int64)
    seen = np.unique(users * n_items + items)
    pool = np.unique(items)
    for epoch in range(1, epochs + 1):
        _, negatives = sample_negatives(users, n_items, seen, 1, rng, pool)
        order = rng.permutation(len(users))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            u = torch.from_numpy(users[rows])
            i, j = torch.from_numpy(items[rows]), torch.from_numpy(negatives[rows])
            p_u, q_i, q_j = model.users(u), model.items(i), model.items(j)  # (B, D) each
            b_i, b_j = model.item_bias(i).squeeze(-1), model.item_bias(j).squeeze(-1)
            margin = (p_u * (q_i - q_j)).sum(-1) + b_i - b_j  # x_ui - x_uj, (B,)
            reg = p_u.pow(2).sum() + q_i.pow(2).sum() + q_j.pow(2).sum()
            loss = -torch.nn.functional.logsigmoid(margin).mean() + l2 * reg / len(rows)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if on_epoch is not None and on_epoch(epoch, model):
            break
    return model.eval()
