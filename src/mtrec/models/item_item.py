"""The ranking task's closed-form item-item component, blended into the network's scores.

A user's item-item scores are ``X_u B``: ``X_u`` the user's known items (every one the model
knows when it scores, so a new interaction moves them with no retraining), ``B`` EASE's
closed form (Steck, WWW 2019) over a Gram matrix that gains the item texts' similarity as a
prior: ``X^T X + text_weight * K`` with ``K_ij = cos(e_i, e_j) ** text_power``, the
side-information form of Jeunen et al., "Closed-Form Models for Collaborative Filtering with
Side-Information" (RecSys 2020), with the language model's embeddings for the item tags.
Two items whose texts are close then share their evidence, which counts most for items
with few interactions. An even ``text_power`` keeps ``K`` positive semi-definite (an
elementwise power of a Gram matrix, Schur's product theorem) and non-negative, and sharpens
it towards near neighbours.

The blend is per user: each side's scores over the catalogue are standardised (z-scores) and
mixed as ``(1 - weight) * network + weight * item_item``, so neither side's scale matters.
Every parameter (``l2``, ``text_weight``, ``weight``) is chosen on valid by the caller
(:mod:`mtrec.workflows.fit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from mtrec.models.baselines.ease import ease_weights, gram_matrix, scatter_weights
from mtrec.models.baselines.itemknn import History, csr_rows


@dataclass(frozen=True)
class ItemItemChoice:
    """The parameters chosen on valid: what a refit reuses on more data."""

    l2: float
    text_weight: float
    text_power: int
    weight: float
    """The item-item side's share of the blended ranking scores; 0 leaves the network's."""


def item_item_memory_bytes(n_items: int) -> int:
    """Peak bytes of a fit: EASE's four ``I x I`` float64 matrices and the text kernel."""
    return 5 * 8 * int(n_items) ** 2


def text_kernel(embeddings: Tensor, power: int) -> Tensor:
    """``cos(e_i, e_j) ** power`` for the (I, D) item embeddings: (I, I) float64, diagonal 1
    (0 for an all-zero embedding)."""
    if power < 2 or power % 2:
        raise ValueError(f"text_power must be even and at least 2 (a PSD kernel), got {power}")
    unit = embeddings.double()
    unit = unit / unit.norm(dim=1, keepdim=True).clamp(min=1e-12)
    return (unit @ unit.T).pow_(power)  # (I, I)


def item_item_weights(
    users: np.ndarray,
    items: np.ndarray,
    n_users: int,
    n_items: int,
    l2: float,
    text: Tensor | None = None,
    text_weight: float = 0.0,
    text_power: int = 4,
) -> Tensor:
    """``B`` (I, I) float32, diagonal 0, fitted on the (users, items) interactions; items
    without any stay all zero (their kernel rows would only lend them nothing to say)."""
    history = History(users, items, n_users, n_items)
    seen = np.unique(items)
    gram = gram_matrix(history, seen)  # (S, S) float64
    if text is not None and text_weight > 0:
        index = torch.from_numpy(seen.astype(np.int64))
        gram += text_weight * text_kernel(text.index_select(0, index), text_power)
    return scatter_weights(ease_weights(gram, l2), seen, n_items)


def standardise(scores: Tensor) -> Tensor:
    """Each row as z-scores: (B, I) -> (B, I); a constant row (no history) becomes zeros."""
    scores = scores.float()
    centred = scores - scores.mean(dim=1, keepdim=True)
    return centred / scores.std(dim=1, keepdim=True).clamp(min=1e-9)


def blend(network: Tensor, item_item: Tensor, weight: float) -> Tensor:
    """``(1 - weight) * z(network) + weight * z(item_item)``: (B, I) each."""
    return (1.0 - weight) * standardise(network) + weight * standardise(item_item)


def known_matrix(
    indptr: Tensor,
    known: Tensor,
    users: Tensor,
    n_items: int,
    extra: Sequence[np.ndarray] | None = None,
) -> Tensor:
    """The (B, I) 0/1 matrix of each user's known items: ``known[indptr[u]:indptr[u + 1]]``
    (a CSR of histories, as :meth:`MultiTaskRecommender.set_history` keeps them), plus each
    row's ``extra`` items (interactions newer than the model's history)."""
    counts, items = csr_rows(indptr, known, users)
    rows = torch.repeat_interleave(torch.arange(len(users), device=counts.device), counts)
    matrix = torch.zeros(len(users), n_items, device=items.device)
    matrix[rows, items] = 1.0
    for row, newer in enumerate(extra or ()):
        if len(newer):
            matrix[row, torch.as_tensor(newer, dtype=torch.long, device=items.device)] = 1.0
    return matrix
