from typing import Annotated

import pandas as pd
from zenml import step

from mtrec.config import DataConfig
from mtrec.data.sources import load_raw
from steps.caching import LIBRARY_CACHE_POLICY


@step(cache_policy=LIBRARY_CACHE_POLICY)
def load_data(
    data: DataConfig, fingerprint: str
) -> tuple[
    Annotated[pd.DataFrame, "raw_interactions"],
    Annotated[pd.DataFrame, "raw_items"],
    Annotated[pd.DataFrame, "raw_users"],
    Annotated[pd.DataFrame, "raw_edges"],
]:
    """Read the configured dataset as raw frames.

    ``fingerprint`` is the content hash of the source files: it is part of the cache key, so
    changed data on disk is read again while unchanged data is served from the cache.
    """
    raw = load_raw(data)
    return raw.interactions, raw.items, raw.users, raw.edges
