"""Embarrassingly Shallow AutoEncoder.

Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019: an item-item weight
matrix ``B`` that reconstructs the binary user-item matrix ``X`` as ``X B``, with ridge penalty
``l2`` and the constraint ``diag(B) = 0`` (an item may not predict itself). The closed form is
``P = (X^T X + l2 I)^{-1}``, ``B = -P / diag(P)`` column-wise, ``diag(B) = 0``; a user's scores
are ``X_u B``.

The inverse is dense, ``I x I``: :func:`ease_memory_bytes` says what a catalogue needs, so a
caller can skip EASE where that does not fit instead of running out of memory.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from mtrec.models.baselines.itemknn import History


def ease_memory_bytes(n_items: int) -> int:
    """Peak bytes of a fit over ``n_items`` items, an upper estimate: four ``I x I`` float64
    matrices (the Gram matrix, its Cholesky factor, the inverse, and the float32 ``B`` kept
    with its float64 source). The history is sparse
    (:class:`mtrec.models.baselines.itemknn.History`): its interactions are not counted."""
    return 4 * 8 * int(n_items) ** 2


def gram_matrix(history: History, items: np.ndarray) -> Tensor:
    """``X^T X`` over the columns ``items`` (ascending) only, as float64: (S, S) for S items."""
    return history.gram(torch.from_numpy(items.astype(np.int64))).double()  # (S, S)


def ease_weights(gram: Tensor, l2: float) -> Tensor:
    """The closed-form ``B`` (float64, (S, S)) for a float64 Gram matrix ``X^T X``."""
    if l2 <= 0:
        raise ValueError(f"EASE needs l2 > 0 for an invertible Gram matrix, got {l2}")
    regularised = gram + l2 * torch.eye(len(gram), dtype=gram.dtype)  # (S, S)
    factor = torch.linalg.cholesky(regularised)  # symmetric positive definite for l2 > 0
    del regularised
    inverse = torch.cholesky_inverse(factor)  # P, (S, S)
    del factor
    weights = inverse.div_(-inverse.diagonal().clone()[None, :])  # B_ij = -P_ij / P_jj
    weights.fill_diagonal_(0.0)
    return weights


def scatter_weights(weights: Tensor, items: np.ndarray, n_items: int) -> Tensor:
    """Place the (S, S) weights of the seen ``items`` into a float32 (I, I) matrix; rows and
    columns of items without training interactions stay zero."""
    full = torch.zeros(n_items, n_items)  # (I, I)
    index = torch.from_numpy(items.astype(np.int64))
    full[index[:, None], index[None, :]] = weights.float()
    return full


class EASE:
    def __init__(
        self,
        train_users: np.ndarray,
        train_items: np.ndarray,
        n_users: int,
        n_items: int,
        l2: float = 500.0,
    ):
        # Items nobody interacted with have all-zero rows and columns in B whatever l2 is:
        # leaving them out of the inverse gives the same B for less work.
        seen = np.unique(train_items)
        self.history = History(train_users, train_items, n_users, n_items)
        weights = ease_weights(gram_matrix(self.history, seen), l2)  # (S, S)
        self.weights = scatter_weights(weights, seen, n_items)  # (I, I) float32, diag 0

    def score_items(self, users: Tensor) -> Tensor:
        return self.history.scores(users, self.weights)  # (B, I)
