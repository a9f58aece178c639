"""Declared task labels: column thresholds, regression columns and temporal influence."""

import numpy as np
import pandas as pd
import pytest

from mtrec.config import ModelConfig
from mtrec.data.labels import DAY_SECONDS, influence_scores, interaction_labels

DAY = DAY_SECONDS


def _frame(rows: list[tuple[int, int, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_idx", "item_idx", "rating", "timestamp"])


def test_influence_counts_later_adopters_within_the_window() -> None:
    frame = _frame(
        [
            (0, 0, 5, 0),  # followed by users 1 (day 1) and 2 (day 10): 2
            (1, 0, 4, 1 * DAY),  # followed by user 2 (day 10): 1
            (2, 0, 3, 10 * DAY),  # nobody after: 0
            (3, 0, 3, 45 * DAY),  # outside everyone's 30-day window, nobody after: 0
            (0, 1, 5, 100 * DAY),  # followed by user 3 on day 129 (inside 30 days): 1
            (3, 1, 2, 129 * DAY),  # 0
            (2, 2, 4, 50 * DAY),  # the same time is not "after": 0
            (1, 2, 4, 50 * DAY),  # 0
        ]
    )
    scores = influence_scores(frame, n_users=5, window_days=30)
    expected_mean = np.array([(2 + 1) / 2, (1 + 0) / 2, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(scores, np.log1p(expected_mean), rtol=1e-6)
    assert scores[4] == 0.0  # a user without rows
    # A shorter window drops the day-10 follower of users 0 and 1.
    short = influence_scores(frame, n_users=5, window_days=5)
    np.testing.assert_allclose(short[:2], np.log1p([(1 + 0) / 2, 0.0]), rtol=1e-6)


def test_influence_of_an_empty_frame_is_zero() -> None:
    assert influence_scores(_frame([]), 3, 30).tolist() == [0.0, 0.0, 0.0]


def test_interaction_labels_follow_the_declaration() -> None:
    frame = _frame([(0, 0, 5.0, 0), (1, 0, 3.0, DAY), (1, 1, 4.0, 2 * DAY)])
    frame["minutes"] = [90.0, 10.0, 30.0]
    config = ModelConfig.model_validate(
        {
            "tasks": {
                "watch": {},
                "like": {},
                "rating": {},
                "long_view": {"kind": "binary", "label": "minutes", "threshold": 30},
                "minutes": {"kind": "regression", "label": "minutes"},
                "influence": {"window_days": 30},
            }
        }
    )
    labels = interaction_labels(frame, config.tasks, n_users=2)
    assert "watch" not in labels  # the ranking label comes from sampled negatives
    assert labels["like"].tolist() == [1.0, 0.0, 1.0]
    assert labels["rating"].tolist() == [5.0, 3.0, 4.0]
    assert labels["long_view"].tolist() == [1.0, 0.0, 1.0]
    assert labels["minutes"].tolist() == [90.0, 10.0, 30.0]
    # User 0 is followed once on item 0, user 1 never: each row carries its user's value.
    np.testing.assert_allclose(labels["influence"], np.log1p([1.0, 0.0, 0.0]), rtol=1e-6)
    assert all(v.dtype == np.float32 for v in labels.values())


def test_a_task_on_a_missing_or_non_numeric_column_fails_clearly() -> None:
    frame = _frame([(0, 0, 5.0, 0)])
    missing = ModelConfig.model_validate(
        {"tasks": {"watch": {}, "x": {"kind": "regression", "label": "dwell"}}}
    )
    with pytest.raises(ValueError, match="'dwell', which the interactions lack"):
        interaction_labels(frame, missing.tasks, 1)
    frame["dwell"] = ["long"]
    with pytest.raises(ValueError, match="non-numeric 'long'"):
        interaction_labels(frame, missing.tasks, 1)
