"""Text-embedding drift: do the current period's items read like the reference period's?

Method: a domain classifier (logistic regression on the L2-normalised item text embeddings,
reference items labelled 0, current items 1, balanced class weights), scored by 5-fold
cross-validated ROC AUC. Why: it is sensitive to any difference between two distributions in
384 dimensions at once, where per-dimension tests need multiple-testing corrections and miss
joint shifts; and its AUC reads directly (0.5: indistinguishable, 1: fully separable). This is
the approach Evidently's embedding drift uses by default (its ``model`` method). The distance
between the two centroids (cosine) is reported beside it as an effect size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

MIN_ITEMS = 20


def embedding_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    item_embeddings: np.ndarray,
    auc_threshold: float,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare the embeddings of items interacted with in ``current`` against those of items
    interacted with in ``reference``; items in both periods are left out of ``current`` (they
    cannot differ from themselves), so the test reads what is new."""
    ref_items = np.unique(reference["item_idx"].to_numpy(np.int64))
    cur_items = np.setdiff1d(np.unique(current["item_idx"].to_numpy(np.int64)), ref_items)
    result: dict[str, Any] = {
        "method": "domain classifier (logistic regression), 5-fold ROC AUC",
        "reference_items": int(len(ref_items)),
        "new_items": int(len(cur_items)),
        "auc_threshold": auc_threshold,
    }
    if len(cur_items) < MIN_ITEMS or len(ref_items) < MIN_ITEMS:
        return {
            **result,
            "status": f"not tested: fewer than {MIN_ITEMS} new items",
            "drift_detected": False,
        }
    x = item_embeddings[np.concatenate([ref_items, cur_items])].astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
    y = np.r_[np.zeros(len(ref_items)), np.ones(len(cur_items))]
    # scikit-learn is imported here, not at the top: see mtrec.evaluation.metrics.auc.
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    classifier = LogisticRegression(max_iter=1000, class_weight="balanced")
    auc = float(cross_val_score(classifier, x, y, cv=folds, scoring="roc_auc").mean())
    ref_centre, cur_centre = x[y == 0].mean(axis=0), x[y == 1].mean(axis=0)
    cosine = ref_centre @ cur_centre / (np.linalg.norm(ref_centre) * np.linalg.norm(cur_centre))
    return {
        **result,
        "status": "tested",
        "auc": auc,
        "centroid_cosine_distance": float(1 - cosine),
        "drift_detected": auc >= auc_threshold,
    }
