from typing import Annotated

import numpy as np
import pandas as pd
from zenml import log_metadata, step

from mtrec.config import InterestsConfig
from mtrec.evaluation.interests import Topics, fit_topics, interest_profiles
from steps.caching import LIBRARY_CACHE_POLICY
from steps.materializers import TopicsMaterializer


@step(
    cache_policy=LIBRARY_CACHE_POLICY,
    output_materializers={"item_topics": TopicsMaterializer},
)
def mine_interests(
    items: pd.DataFrame,
    users: pd.DataFrame,
    item_embeddings: np.ndarray,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    config: InterestsConfig,
) -> tuple[Annotated[Topics, "item_topics"], Annotated[pd.DataFrame, "user_interests"]]:
    """Item topics from the text embeddings, named from their items' genres and titles, and
    each user's long-term and recent topic shares over every known interaction, with the
    shift between them: what the user watches, and what changed lately."""
    topics = fit_topics(
        item_embeddings, items, min(config.topics, len(item_embeddings)), config.seed
    )
    known = pd.concat([train, valid, test], ignore_index=True)
    profiles = interest_profiles(known, topics, config.recent_n, config.recent_days)
    user_ids = users["user_id"].to_numpy()
    profiles.insert(1, "user_id", user_ids[profiles["user_idx"].to_numpy()])
    log_metadata({"topics": dict(zip(topics.labels, map(int, topics.sizes), strict=True))})
    return topics, profiles
