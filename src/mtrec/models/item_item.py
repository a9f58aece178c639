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
it towards near neighbours. A second kernel of the same form, over the network's own item
vectors (``network_weight``), hands the closed form what the network learned about which
items go together; a refit's kernel is the refit network's.

The blend is per user: each side's scores over the catalogue are standardised (z-scores) and
mixed as ``(1 - weight) * network + weight * item_item``, so neither side's scale matters.
Every parameter (``l2``, ``text_weight``, ``network_weight``, ``weight``) is chosen on valid
by the caller (:mod:`mtrec.workflows.fit`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import torch
from torch import Tensor

from mtrec.models.baselines.ease import ease_weights, gram_matrix, scatter_weights
from mtrec.models.baselines.itemknn import History, csr_rows

P = TypeVar("P")


@dataclass(frozen=True)
class SearchResult(Generic[P]):
    """The best pair of a :func:`search_by_turns`, its value and what its fit returned, and
    every pair's value (the fits made)."""

    first: float
    second: float
    value: float
    fitted: P
    values: dict[tuple[float, float], float]


def search_by_turns(
    firsts: Sequence[float],
    seconds: Sequence[float],
    fit: Callable[[float, float], tuple[float, P]],
    better: Callable[[float, float], bool],
) -> SearchResult[P]:
    """The best (first, second) pair of two grids by ``fit(first, second) -> (value, fitted)``,
    searched by turns: ``firsts`` along their grid at the first of ``seconds``, then
    ``seconds`` at the best first, then ``firsts`` again, until neither moves. About
    ``len(firsts) + len(seconds)`` fits instead of their product; the pair found is one that
    neither grid alone improves: the product's best where the two parameters' effects add
    up, though a ridge across both grids can hide a better one. Each pair is fitted once; the
    best moves only to a strictly ``better(new, old)`` value, so an earlier grid value wins a
    tie. Only the best pair's ``fitted`` is kept (the caller's (I, I) weights: one at a time
    besides the fit in progress)."""
    if not firsts or not seconds:
        raise ValueError("search_by_turns needs at least one value in each grid")
    values: dict[tuple[float, float], float] = {}
    best: tuple[float, float, float, P] | None = None  # first, second, value, fitted

    def search(pairs: list[tuple[float, float]]) -> None:
        nonlocal best
        for pair in pairs:
            if pair in values:
                continue
            value, fitted = fit(*pair)
            values[pair] = value
            if best is None or better(value, best[2]):
                best = (*pair, value, fitted)

    search([(first, seconds[0]) for first in firsts])
    while True:
        assert best is not None
        before = best[:2]
        search([(best[0], second) for second in seconds])
        search([(first, best[1]) for first in firsts])
        if best[:2] == before:
            return SearchResult(best[0], best[1], best[2], best[3], values)


def item_item_memory_bytes(n_items: int) -> int:
    """Peak bytes of a fit: EASE's four ``I x I`` float64 matrices and the text kernel."""
    return 5 * 8 * int(n_items) ** 2


def cosine_kernel(embeddings: Tensor, power: int) -> Tensor:
    """``cos(e_i, e_j) ** power`` for the (I, D) item embeddings (the texts', or the
    network's item vectors): (I, I) float64, diagonal 1 (0 for an all-zero embedding)."""
    if power < 2 or power % 2:
        raise ValueError(f"a kernel power must be even and at least 2 (PSD), got {power}")
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
    network: Tensor | None = None,
    network_weight: float = 0.0,
    network_power: int = 2,
) -> Tensor:
    """``B`` (I, I) float32, diagonal 0, fitted on the (users, items) interactions, over
    ``X^T X + text_weight * K(text) + network_weight * K(network)`` (``network``: the (I, H)
    item vectors of the network the component is blended with); items without any
    interaction stay all zero (their kernel rows would only lend them nothing to say)."""
    history = History(users, items, n_users, n_items)
    seen = np.unique(items)
    gram = gram_matrix(history, seen)  # (S, S) float64
    index = torch.from_numpy(seen.astype(np.int64))
    kernels = ((text, text_weight, text_power), (network, network_weight, network_power))
    for vectors, weight, power in kernels:
        if vectors is not None and weight > 0:  # one (S, S) kernel at a time
            gram += weight * cosine_kernel(vectors.index_select(0, index), power)
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
