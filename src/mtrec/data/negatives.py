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
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform negatives for each user in ``users``, rejecting items in ``seen_keys``.

    seen_keys: sorted unique ``user * n_items + item`` of the training interactions. Returns
    (users, items) arrays of length ``len(users) * per_positive``. Collisions are redrawn a few
    times; the rare leftover after that is kept (a negligible share of false negatives).
    """
    neg_users = np.repeat(users, per_positive)
    neg_items = rng.integers(0, n_items, size=len(neg_users))
    for _ in range(10):
        keys = neg_users * n_items + neg_items
        pos = np.searchsorted(seen_keys, keys).clip(max=max(len(seen_keys) - 1, 0))
        clash = seen_keys[pos] == keys if len(seen_keys) else np.zeros(len(keys), dtype=bool)
        if not clash.any():
            break
        neg_items[clash] = rng.integers(0, n_items, size=int(clash.sum()))
    return neg_users, neg_items
