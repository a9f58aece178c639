"""What every training entry point takes besides the interactions and the configuration."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ModelInputs:
    """What a model is built from besides its configuration and the interactions it trains
    on; row ``i`` of each is index ``i`` (``user_idx``, ``item_idx``)."""

    item_embeddings: np.ndarray
    """(I, D) item text embeddings."""
    user_embeddings: np.ndarray
    """(U, D) user text embeddings."""
    user_ids: pd.Series
    item_ids: pd.Series
    edges: pd.DataFrame | None = None
    """User-user edges: the social input and link tasks."""
    item_topics: np.ndarray | None = None
    """(I,) each item's topic (``Topics.assignment``), which an ``interest`` task needs."""

    @classmethod
    def from_frames(
        cls,
        users: pd.DataFrame,
        items: pd.DataFrame,
        item_embeddings: np.ndarray,
        user_embeddings: np.ndarray,
        edges: pd.DataFrame | None = None,
        item_topics: np.ndarray | None = None,
    ) -> ModelInputs:
        """From the indexed ``users`` and ``items`` tables (their ``user_id``/``item_id``)."""
        return cls(
            item_embeddings, user_embeddings, users["user_id"], items["item_id"], edges, item_topics
        )
