from typing import Annotated

import pandas as pd
from zenml import step

from mtrec.config import TextConfig
from mtrec.features.text import extra_text_columns, item_texts, user_texts
from steps.caching import LIBRARY_CACHE_POLICY


@step(cache_policy=LIBRARY_CACHE_POLICY)
def build_texts(
    items: pd.DataFrame, users: pd.DataFrame, train: pd.DataFrame, config: TextConfig
) -> tuple[Annotated[pd.DataFrame, "item_texts"], Annotated[pd.DataFrame, "user_texts"]]:
    """Render item and user texts; user texts read the training split only (no leakage)."""
    extra = (
        extra_text_columns(items, config.item_template)
        if config.item_extra_columns == "auto"
        else list(config.item_extra_columns)
    )
    items_text = item_texts(items, config.item_template, extra)
    users_text = user_texts(users, train, items, config.user_template, config.top_genres)
    return (
        pd.DataFrame({"item_idx": items["item_idx"], "text": items_text}),
        pd.DataFrame({"user_idx": users["user_idx"], "text": users_text}),
    )
