from typing import Annotated, Any

import pandas as pd
from zenml import step

from mtrec.data.split import Split
from mtrec.workflows.comparison import baseline_row
from steps.caching import LIBRARY_CACHE_POLICY


@step(cache_policy=LIBRARY_CACHE_POLICY)
def score_baseline(
    name: str,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    users: pd.DataFrame,
    items: pd.DataFrame,
    ks: tuple[int, ...],
    seed: int,
    baseline_max_memory_mb: float,
) -> Annotated[dict[str, Any], "comparison_row"]:
    """Tune baseline ``name`` on valid, fit it on train and score it on test (and refit on
    train + valid: its serving view): its row of the comparison, or the reason it was
    skipped (EASE over ``baseline_max_memory_mb``)."""
    return baseline_row(
        name, Split(train, valid, test), len(users), len(items), ks, seed, baseline_max_memory_mb
    )
