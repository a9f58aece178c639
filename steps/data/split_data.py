from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from mtrec.config import SplitConfig
from mtrec.data.split import require_every_part, split_interactions
from steps.caching import LIBRARY_CACHE_POLICY


@step(cache_policy=LIBRARY_CACHE_POLICY)
def split_data(
    interactions: pd.DataFrame, config: SplitConfig
) -> tuple[
    Annotated[pd.DataFrame, "train"],
    Annotated[pd.DataFrame, "valid"],
    Annotated[pd.DataFrame, "test"],
]:
    """Split interactions into train, valid and test with the configured strategy; stop the
    run when a part is empty."""
    split = split_interactions(interactions, config)
    log_metadata(
        {
            "split": {
                "strategy": config.strategy,
                "train": len(split.train),
                "valid": len(split.valid),
                "test": len(split.test),
            }
        }
    )
    require_every_part(split)
    return split.train, split.valid, split.test
