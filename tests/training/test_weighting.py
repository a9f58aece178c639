"""Task weighting schemes: values at known points, adaptation in the right direction."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from mtrec.config import ModelConfig, TrainingConfig
from mtrec.training.weighting import (
    SCHEMES,
    DynamicWeightAverage,
    GradNorm,
    UncertaintyWeighting,
    make_weighting,
)
from mtrec.workflows.fit import fit_recommender
from mtrec.workflows.inputs import ModelInputs

BASE = {"watch": 1.0, "like": 0.5, "rating": 0.0}


def _losses(watch: float, like: float, rating: float) -> dict[str, torch.Tensor]:
    values = {"watch": watch, "like": like, "rating": rating}
    return {t: torch.tensor(v, requires_grad=True) for t, v in values.items()}


def test_static_is_the_weighted_sum_and_a_zero_weight_task_is_off():
    total = make_weighting("static", BASE).combine(_losses(2.0, 4.0, 100.0))
    assert float(total.detach()) == pytest.approx(1.0 * 2.0 + 0.5 * 4.0)


def test_uncertainty_starts_static_and_learns_log_variances():
    weighting = UncertaintyWeighting(BASE)
    losses = _losses(2.0, 4.0, 100.0)
    total = weighting.combine(losses)
    assert float(total.detach()) == pytest.approx(4.0)  # s_t = 0: exp(0) * L + 0
    total.backward()
    # d/ds [w (exp(-s) L + s)] at s = 0 is w (1 - L).
    assert float(weighting.log_vars["watch"].grad) == pytest.approx(1.0 * (1 - 2.0))
    assert float(weighting.log_vars["like"].grad) == pytest.approx(0.5 * (1 - 4.0))
    with torch.no_grad():
        weighting.log_vars["watch"].fill_(math.log(2.0))
    assert weighting.current()["watch"] == pytest.approx(0.5)
    assert weighting.current()["rating"] == 0.0


def test_dwa_gives_more_weight_to_the_task_that_learns_slower():
    weighting = DynamicWeightAverage({"watch": 1.0, "like": 1.0}, temperature=2.0)
    weighting.end_epoch({"watch": 1.0, "like": 1.0})
    assert weighting.current() == {"watch": 1.0, "like": 1.0}  # needs two epochs of history
    weighting.end_epoch({"watch": 0.5, "like": 1.0})
    weights = weighting.current()
    assert sum(weights.values()) == pytest.approx(2.0)
    expected_like = 2 * math.exp(1.0 / 2) / (math.exp(0.5 / 2) + math.exp(1.0 / 2))
    assert weights["like"] == pytest.approx(expected_like)
    assert weights["like"] > weights["watch"]


def test_gradnorm_shrinks_the_task_with_the_larger_gradient():
    torch.manual_seed(0)
    shared = nn.Linear(4, 4)
    weighting = GradNorm({"watch": 1.0, "like": 1.0}, shared.parameters(), alpha=0.0)
    x = torch.randn(32, 4)
    for _ in range(50):
        h = shared(x)
        losses = {"watch": (10 * h).pow(2).mean(), "like": h.pow(2).mean()}
        weighting.gradnorm_step(losses)
    weights = weighting.current()
    assert sum(weights.values()) == pytest.approx(2.0, rel=1e-5)
    assert weights["watch"] < weights["like"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_trains_and_logs_weights_per_epoch(scheme):
    rng = np.random.default_rng(0)
    rows = [
        (u, int(i), float(rng.integers(1, 6)), t)
        for u in range(12)
        for t, i in enumerate(rng.choice(15, size=6, replace=False))
    ]
    frame = pd.DataFrame(rows, columns=["user_idx", "item_idx", "rating", "timestamp"])
    train, valid = frame.groupby("user_idx").head(5), frame.groupby("user_idx").tail(1)
    _, result = fit_recommender(
        train,
        valid,
        ModelInputs(
            rng.normal(size=(15, 4)).astype(np.float32),
            rng.normal(size=(12, 4)).astype(np.float32),
            pd.Series([f"u{i}" for i in range(12)]),
            pd.Series([f"i{i}" for i in range(15)]),
        ),
        ModelConfig(embedding_dim=4, hidden_dims=(8,), tower_dims=(4,)),
        TrainingConfig(epochs=3, batch_size=16, patience=3, task_weighting=scheme),
    )
    assert len(result.history) == 3
    for log in result.history:
        assert set(log.weights) == {"watch", "like", "rating"}
        assert all(math.isfinite(w) and w >= 0 for w in log.weights.values())
        assert math.isfinite(log.losses["total"])
