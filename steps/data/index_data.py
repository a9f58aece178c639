from typing import Annotated

import pandas as pd
from zenml import step

from mtrec.data.prepare import index_edges, index_interactions
from steps.caching import LIBRARY_CACHE_POLICY


@step(cache_policy=LIBRARY_CACHE_POLICY)
def index_data(
    interactions: pd.DataFrame, items: pd.DataFrame, users: pd.DataFrame, edges: pd.DataFrame
) -> tuple[
    Annotated[pd.DataFrame, "interactions"],
    Annotated[pd.DataFrame, "items"],
    Annotated[pd.DataFrame, "users"],
    Annotated[pd.DataFrame, "edges"],
]:
    """Cast validated frames to canonical dtypes and map ids to contiguous indices, once."""
    indexed = index_interactions(interactions, items, users)
    return (indexed.interactions, indexed.items, indexed.users,
            index_edges(edges, indexed.users))  # fmt: skip
