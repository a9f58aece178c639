"""Most-popular baseline: every user gets items ranked by training interaction count."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


class Popularity:
    def __init__(self, train_users: np.ndarray, train_items: np.ndarray, n_items: int):
        counts = np.bincount(train_items, minlength=n_items).astype(np.float32)
        self.scores = torch.from_numpy(counts)  # (I,)

    def score_items(self, users: Tensor) -> Tensor:
        return self.scores.expand(len(users), -1)  # (B, I)
