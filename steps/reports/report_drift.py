from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step
from zenml.types import HTMLString

from mtrec.config import DriftConfig
from mtrec.reports.drift import run_drift_report
from steps.caching import LIBRARY_CACHE_POLICY


@step(cache_policy=LIBRARY_CACHE_POLICY)
def report_drift(
    train: pd.DataFrame,
    test: pd.DataFrame,
    items: pd.DataFrame,
    users: pd.DataFrame,
    config: DriftConfig,
) -> tuple[Annotated[HTMLString, "drift_report"], Annotated[dict[str, Any], "drift_summary"]]:
    """Evidently data drift of the test period against the training period."""
    html, summary = run_drift_report(train, test, items, users, config)
    log_metadata({"drift": {"drifted_share": summary.drifted_share,
                            "drift_detected": summary.drift_detected}})  # fmt: skip
    return HTMLString(html), summary.to_dict()
