from typing import Annotated

import pandas as pd
from zenml import step

from mtrec.config import EventFunnel
from mtrec.data.prepare import index_edges, index_interactions
from steps.caching import LIBRARY_CACHE_POLICY


@step(cache_policy=LIBRARY_CACHE_POLICY)
def index_data(
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    users: pd.DataFrame,
    edges: pd.DataFrame,
    funnel: EventFunnel | None = None,
) -> tuple[
    Annotated[pd.DataFrame, "interactions"],
    Annotated[pd.DataFrame, "items"],
    Annotated[pd.DataFrame, "users"],
    Annotated[pd.DataFrame, "edges"],
]:
    """Cast validated frames to canonical dtypes and map ids to contiguous indices, once;
    with an event ``funnel``, each (user, item) pair's rows become one interaction at its
    furthest stage."""
    indexed = index_interactions(interactions, items, users, funnel)
    return (indexed.interactions, indexed.items, indexed.users, index_edges(edges, indexed.users))
