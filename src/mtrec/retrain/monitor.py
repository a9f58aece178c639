"""How production does on a new window, before anything is retrained."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mtrec.data.prepare import IndexedData
from mtrec.models.serialization import TrainedModel
from mtrec.registry.gate import aligned_scorer, per_user_metric
from mtrec.retrain.windows import Window

MONITOR_METRIC = "ndcg@10"
"""What production is scored with on each window, before anything is retrained."""


@dataclass(frozen=True)
class ProductionScore:
    """Production on one window."""

    metric: str
    value: float
    """``metric`` averaged over ``scored_users``; NaN when production knows none of them."""
    window_interactions: int
    window_users: int
    scored_users: int
    """The window's users production knows (a user who arrived later has no id in it)."""


def production_on_window(
    trained: TrainedModel, data: IndexedData, window: Window, metric: str = MONITOR_METRIC
) -> ProductionScore:
    """``metric`` of the production model on the window's interactions, full ranking with each
    user's earlier interactions masked, over the window's users production knows (a user who
    arrived after it was trained has no id in it and is counted, not scored)."""
    interactions = data.interactions
    timestamps = interactions["timestamp"].to_numpy()
    history = interactions[timestamps < window.start]
    truth = interactions[(timestamps >= window.start) & (timestamps < window.end)]
    score, known = aligned_scorer(trained, data.users["user_id"], data.items["item_id"])
    shared = truth[known[truth["user_idx"].to_numpy(np.int64)]]
    value = math.nan
    if not shared.empty:
        value = float(per_user_metric(score, len(data.items), shared, history, metric).mean())
    return ProductionScore(
        metric=metric,
        value=value,
        window_interactions=len(truth),
        window_users=int(truth["user_idx"].nunique()),
        scored_users=int(shared["user_idx"].nunique()),
    )
