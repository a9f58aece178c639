"""Item-based k-nearest-neighbour collaborative filtering.

Sarwar et al., "Item-Based Collaborative Filtering Recommendation Algorithms", WWW 2001: items
are similar when the same users interacted with them (cosine over binary interaction vectors,
with a shrinkage term against similarities built on few co-occurrences); a user's score for an
item sums its similarity to the items in the user's history, keeping each item's ``k`` nearest
neighbours.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


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
        matrix = torch.zeros(n_users, n_items)  # (U, I) binary
        matrix[torch.from_numpy(train_users.astype(np.int64)),
               torch.from_numpy(train_items.astype(np.int64))] = 1.0  # fmt: skip
        co = matrix.T @ matrix  # (I, I) co-occurrence counts
        norms = co.diagonal().sqrt()
        similarity = co / (norms[:, None] * norms[None, :] + shrink)
        similarity.fill_diagonal_(0.0)
        if k < n_items:  # keep each item's k strongest neighbours
            threshold = similarity.topk(k, dim=1).values[:, -1:]
            similarity = torch.where(similarity >= threshold, similarity, 0.0)
        self.similarity = similarity  # (I, I)
        self.matrix = matrix

    def score_items(self, users: Tensor) -> Tensor:
        return self.matrix[users] @ self.similarity  # (B, I)
