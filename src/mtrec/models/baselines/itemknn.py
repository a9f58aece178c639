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

import numpy as np
import torch
from torch import Tensor


def binary_matrix(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> Tensor:
    """The (U, I) float32 user-item matrix, 1 where the user interacted with the item."""
    matrix = torch.zeros(n_users, n_items)  # (U, I)
    matrix[torch.from_numpy(users.astype(np.int64)), torch.from_numpy(items.astype(np.int64))] = 1.0
    return matrix


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
        matrix = binary_matrix(train_users, train_items, n_users, n_items)  # (U, I)
        co = matrix.T @ matrix  # (I, I) co-occurrence counts
        self.similarity = keep_neighbours(cosine_similarity(co, shrink), k)  # (I, I)
        self.matrix = matrix

    def score_items(self, users: Tensor) -> Tensor:
        return self.matrix[users] @ self.similarity  # (B, I)
