"""Uniform negative sampling that avoids known (user, item) pairs, vectorised."""

from __future__ import annotations

import numpy as np

__all__ = ["sample_negatives"]


def sample_negatives(
    users: np.ndarray,
    n_items: int,
    seen_keys: np.ndarray,
    per_positive: int,
    rng: np.random.Generator,
    candidates: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    pool_size: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform negatives for each user in ``users``, rejecting items in ``seen_keys``.

    seen_keys: sorted unique ``user * n_items + item`` of the training interactions.
    candidates: the item indices to draw from (default: the whole catalogue). Training draws
    only from items that have training interactions: an item that is always a negative is
    learned as "never watched", and a cold item that shares its text would inherit that.
    groups: with ``pool_size``, a group per entry of ``users`` (0 .. G - 1): each group draws
    ``pool_size`` items from the candidates (uniform, with replacement) and its rows draw their
    negatives, redraws included, from those only. A training batch as a group runs its item
    side on at most ``pool_size`` negative items instead of nearly one per negative; each
    negative is still a uniform draw from the candidates.
    Returns (users, items) arrays of length ``len(users) * per_positive``. Collisions are
    redrawn a few times; the rare leftover after that is kept (a negligible share of false
    negatives).
    """
    pool = np.arange(n_items) if candidates is None else np.asarray(candidates, dtype=np.int64)
    if len(pool) == 0:
        raise ValueError("no candidate items to sample negatives from")
    users = np.asarray(users, dtype=np.int64)
    n_rows = len(users) * per_positive
    if groups is None or pool_size < 1:
        neg_items = pool[rng.integers(0, len(pool), size=n_rows)]

        def draw(rows: np.ndarray) -> np.ndarray:
            return pool[rng.integers(0, len(pool), size=len(rows))]

    else:
        groups = np.asarray(groups, dtype=np.int64)
        if groups.shape != users.shape or (len(groups) and groups.min() < 0):
            raise ValueError("groups must give each entry of users a group index >= 0")
        n_groups = int(groups.max(initial=-1)) + 1
        shared = pool[rng.integers(0, len(pool), size=(n_groups, pool_size))]
        neg_items = shared[np.repeat(groups, per_positive), rng.integers(0, pool_size, n_rows)]

        def draw(rows: np.ndarray) -> np.ndarray:
            return shared[groups[rows // per_positive], rng.integers(0, pool_size, len(rows))]

    # Only the redrawn rows are checked again: a row that passed keeps its item (checking
    # every row each round was a large share of a BPR baseline fit). The check runs over
    # blocks of rows: its keys and look-ups for every row at once were several times the
    # output (2 GB of temporaries for the 32M negatives of a 10M log).
    unchecked = np.arange(len(neg_items))
    for _ in range(10):
        unchecked = np.concatenate(
            [
                block[_seen(users[block // per_positive] * n_items + neg_items[block], seen_keys)]
                for block in np.array_split(unchecked, -(-len(unchecked) // CHECK_BLOCK) or 1)
            ]
        )
        if not len(unchecked):
            break
        neg_items[unchecked] = draw(unchecked)
    return np.repeat(users, per_positive), neg_items


CHECK_BLOCK = 1 << 22
"""Rows checked against the seen pairs at a time."""


def _seen(keys: np.ndarray, seen_keys: np.ndarray) -> np.ndarray:
    """Which of ``keys`` are in the sorted ``seen_keys``."""
    if not len(seen_keys):
        return np.zeros(len(keys), dtype=bool)
    pos = np.searchsorted(seen_keys, keys).clip(max=len(seen_keys) - 1)
    return np.asarray(seen_keys[pos] == keys)
