"""Text-embedding drift: a domain classifier separates shifted items and not same-source ones."""

import numpy as np
import pandas as pd
import pytest

from mtrec.reports.embedding_drift import embedding_drift


def _periods(n_ref: int, n_new: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    reference = pd.DataFrame({"item_idx": np.arange(n_ref)})
    # The current period repeats some reference items (ignored) and brings new ones.
    current = pd.DataFrame({"item_idx": np.r_[np.arange(10), n_ref + np.arange(n_new)]})
    return reference, current


def test_shifted_new_items_are_detected() -> None:
    rng = np.random.default_rng(0)
    reference, current = _periods(200, 100)
    embeddings = rng.normal(size=(300, 16))
    embeddings[200:, :4] += 1.5  # the new items' texts are about something else
    result = embedding_drift(reference, current, embeddings, auc_threshold=0.6)
    assert result["status"] == "tested" and result["new_items"] == 100
    assert result["auc"] > 0.9 and result["drift_detected"] is True
    assert result["centroid_cosine_distance"] > 0.3


def test_new_items_from_the_same_source_are_not_drift() -> None:
    rng = np.random.default_rng(1)
    reference, current = _periods(200, 100)
    result = embedding_drift(reference, current, rng.normal(size=(300, 16)), 0.6)
    assert result["auc"] == pytest.approx(0.5, abs=0.1) and result["drift_detected"] is False


def test_too_few_new_items_are_not_tested() -> None:
    reference, current = _periods(200, 5)
    result = embedding_drift(reference, current, np.ones((205, 4)), 0.6)
    assert result["status"].startswith("not tested") and result["drift_detected"] is False
    assert result["new_items"] == 5
