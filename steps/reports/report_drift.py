from typing import Annotated, Any

import numpy as np
import pandas as pd
from zenml import log_metadata, step
from zenml.types import HTMLString

from mtrec.config import DriftConfig
from mtrec.reports.drift import run_drift_report
from mtrec.reports.embedding_drift import embedding_drift
from steps.caching import LIBRARY_CACHE_POLICY


@step(cache_policy=LIBRARY_CACHE_POLICY)
def report_drift(
    train: pd.DataFrame,
    test: pd.DataFrame,
    items: pd.DataFrame,
    users: pd.DataFrame,
    config: DriftConfig,
    item_embeddings: np.ndarray | None = None,
) -> tuple[Annotated[HTMLString, "drift_report"], Annotated[dict[str, Any], "drift_summary"]]:
    """Evidently data drift of the test period against the training period, and text-embedding
    drift of the items new in the test period (domain classifier)."""
    html, summary = run_drift_report(train, test, items, users, config)
    result = summary.to_dict()
    if item_embeddings is not None:
        result["embedding_drift"] = embedding_drift(
            train, test, item_embeddings, config.embedding_auc_threshold, config.seed
        )
    log_metadata(
        {
            "drift": {
                "drifted_share": summary.drifted_share,
                "drift_detected": summary.drift_detected,
                "embedding_drift": result.get("embedding_drift"),
            }
        }
    )
    return HTMLString(html), result
