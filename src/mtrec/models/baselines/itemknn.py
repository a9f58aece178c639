"""Item-based k-nearest-neighbour collaborative filtering.

Sarwar et al., "Item-Based Collaborative Filtering Recommendation Algorithms", WWW 2001: items
are similar when the same users interacted with them (cosine over binary interaction vectors,
with a shrinkage term against similarities built on few co-occurrences); a user's score for an
item sums its similarity to the items in the user's history, keeping each item's ``k`` nearest
neighbours.

The similarity is built in steps (:func:`cosine_similarity`, then :func:`keep_neighbours`) so
a hyperparameter search computes the co-occurrences once and the cosine once per shrinkage.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor


def itemknn_memory_bytes(n_users: int, n_items: int) -> int:
    """Peak bytes of a neighbourhood search over ``n_items`` items, an upper estimate: four
    (I, I) float32 matrices (co-occurrences, the cosine of one shrinkage, the neighbours kept
    of one ``k``, and the best candidate's so far). The history is sparse (:class:`History`):
    the users add only their interactions, not counted; ``n_users`` names the data."""
    return 4 * 4 * int(n_items) ** 2


GRAM_BLOCK_USERS = 4096
"""Users per block of :meth:`History.gram`: one (block, I) float32 slice at a time."""


def csr_rows(indptr: Tensor, indices: Tensor, users: Tensor) -> tuple[Tensor, Tensor]:
    """The rows ``users`` (B,) of a CSR (``indptr`` (U + 1,), ``indices`` (N,)): each row's
    count (B,) and their entries concatenated in row order (sum of counts,)."""
    start = indptr[users]
    counts = indptr[users + 1] - start  # (B,)
    first = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    positions = (
        torch.repeat_interleave(start, counts)
        + torch.arange(len(first), device=first.device)
        - first
    )
    return counts, indices[positions]


class History:
    """The binary user-item matrix ``X`` of the item-item baselines, kept sparse: user ``u``'s
    items (each once, ascending) are ``indices[indptr[u]:indptr[u + 1]]``.

    Their work is products with ``X``: ``X^T X`` (:meth:`gram`) and a batch of users' rows
    times an items x items matrix (:meth:`scores`). With ``X`` sparse they cost the
    interactions times the items, where a dense ``X`` cost the users times the items squared
    (20,000 users and 10,000 items: 4 TFLOP a product, minutes each on two cores)."""

    def __init__(self, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int):
        keys = np.unique(users.astype(np.int64) * n_items + items.astype(np.int64))
        counts = np.bincount(keys // n_items, minlength=n_users)
        self.indptr = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)]))  # (U + 1,)
        self.indices = torch.from_numpy(keys % n_items)  # (N,)
        self.n_users, self.n_items = n_users, n_items

    def rows(self, users: Tensor, columns: Tensor | None = None) -> Tensor:
        """The users' rows, a sparse CSR (B, I) float32 matrix; with ``columns`` (S,)
        ascending item indices, those columns only, renumbered ``0 .. S - 1``: (B, S)."""
        counts, items = csr_rows(self.indptr, self.indices, users)
        width = self.n_items
        if columns is not None:
            column_of = torch.full((self.n_items,), -1, dtype=torch.long)
            column_of[columns] = torch.arange(len(columns))
            kept = column_of[items] >= 0
            row = torch.repeat_interleave(torch.arange(len(users)), counts)[kept]
            items, width = column_of[items][kept], len(columns)
            counts = torch.bincount(row, minlength=len(users))
        crow = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(
                crow, items, torch.ones(len(items)), (len(users), width), check_invariants=False
            )

    def scores(self, users: Tensor, weights: Tensor) -> Tensor:
        """``X[users] @ weights``: (B,) users and (I, I) weights -> (B, I)."""
        return self.rows(users) @ weights

    def gram(self, columns: Tensor | None = None) -> Tensor:
        """``X^T X``, float32 counts (exact below 2^24 users), over ``columns`` only when
        given: (S, S), summed over blocks of users (a sparse (S, B) by dense (B, S) product
        each)."""
        width = self.n_items if columns is None else len(columns)
        gram = torch.zeros(width, width)
        for first in range(0, self.n_users, GRAM_BLOCK_USERS):
            block = torch.arange(first, min(first + GRAM_BLOCK_USERS, self.n_users))
            rows = self.rows(block, columns)  # (B, S)
            gram += torch.sparse.mm(rows.to_sparse_coo().t(), rows.to_dense())
        return gram


def cosine_similarity(co: Tensor, shrink: float) -> Tensor:
    """Shrunk cosine ``co_ij / (|i| |j| + shrink)`` from (I, I) co-occurrence counts, with a
    zero diagonal; 0 where the denominator is (an item nobody saw, with ``shrink`` 0)."""
    norms = co.diagonal().sqrt()  # (I,)
    denominator = norms[:, None] * norms[None, :] + shrink  # (I, I)
    similarity = torch.where(denominator > 0, co / denominator.clamp_min(1e-12), 0.0)
    similarity.fill_diagonal_(0.0)
    return similarity


def ranked_similarities(similarity: Tensor, max_k: int) -> Tensor:
    """Each row's ``max_k`` largest similarities, descending: (I, max_k)."""
    return similarity.topk(min(max_k, similarity.shape[1]), dim=1).values


def keep_neighbours(similarity: Tensor, k: int, ranked: Tensor | None = None) -> Tensor:
    """Zero all but each row's ``k`` strongest similarities (ties at the k-th value are kept).

    ``ranked``: :func:`ranked_similarities` for some ``max_k >= k``, when several ``k`` are
    tried on one similarity."""
    if k >= similarity.shape[1]:
        return similarity
    if ranked is None or ranked.shape[1] < k:
        ranked = ranked_similarities(similarity, k)
    threshold = ranked[:, k - 1 : k]  # (I, 1)
    return torch.where(similarity >= threshold, similarity, 0.0)


class ItemKNN:
    def __init__(
        self,
        train_users: np.ndarray,
        train_items: np.ndarray,
        n_users: int,
        n_items: int,
        k: int = 100,
        shrink: float = 10.0,
    ):
        self.history = History(train_users, train_items, n_users, n_items)
        co = self.history.gram()  # (I, I) co-occurrence counts
        self.similarity = keep_neighbours(cosine_similarity(co, shrink), k)  # (I, I)

    def score_items(self, users: Tensor) -> Tensor:
        return self.history.scores(users, self.similarity)  # (B, I)
